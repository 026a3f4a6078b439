from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import pytest

from poolbench.merge.core import merge
from poolbench.merge.inputs import DeadLetters, Inputs, MergeError, ResultsInput, split_by_run
from poolbench.merge.measured import merge_histograms, merge_results
from poolbench.merge.options import MergeOptions
from poolbench.merge.raw import merge_raw, pooled_point_inputs
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import PointResult, ResultSet
from poolbench.run.timeline import nearest_rank
from tests.merge import factories

OPTIONS = MergeOptions(workers=10)


def _merged(inputs: Inputs) -> PointResult:
    (result,) = merge_raw(inputs, OPTIONS, factories.result_set(0).environment).points
    return result


def test_pooled_accounting_is_by_id() -> None:
    result = _merged(factories.inputs(loads=3, sinks=2))
    assert (result.produced, result.delivered, result.lost, result.duplicates) == (200, 200, 0, 0)
    assert result.inconsistencies == 0
    assert result.retried == 2  # summed over the consumer summaries
    assert result.params["load_shards"] == 3
    assert result.params["sinks"] == 2
    assert result.params["instances"] == 2


def test_missing_ids_are_lost_by_set() -> None:
    dropped = frozenset(
        {factories.event_id(factories.prefix(0), 3), factories.event_id(factories.prefix(1), 7)}
    )
    result = _merged(factories.inputs(drop=dropped))
    assert (result.produced, result.delivered, result.lost) == (200, 198, 2)
    assert any("lost 2 of 200" in w for w in result.warnings)


def test_duplicates_across_sinks_are_caught() -> None:
    twice = frozenset(
        {factories.event_id(factories.prefix(0), 1), factories.event_id(factories.prefix(1), 2)}
    )
    result = _merged(factories.inputs(twice=twice))
    assert (result.produced, result.delivered, result.duplicates, result.lost) == (200, 200, 2, 0)
    assert any("2 ids were received by more than one sink" in w for w in result.warnings)


def test_ids_no_shard_produced_are_inconsistencies() -> None:
    result = _merged(factories.inputs(foreign=3))
    assert result.delivered == 200
    assert result.inconsistencies == 1
    assert any(
        "3 ids reached the sink that this point never produced" in w for w in result.warnings
    )


def test_merged_p99_is_the_p99_of_all_receipts_pooled() -> None:
    inputs = factories.inputs(loads=3, sinks=2, seed=9)
    result = _merged(inputs)
    latencies = sorted(
        (r.received_ns - r.intended_ns) / 1e6
        for ledger in inputs.ledgers
        for r in ledger.receipts
        if r.intended_ns is not None
    )
    exact = nearest_rank(latencies, 99.0)
    assert exact is not None
    assert result.latency_ms is not None
    assert result.latency_ms.p99 == pytest.approx(exact, rel=0.01)
    # ... which is not what averaging the sinks' own p99s would give.
    per_sink = []
    for ledger in inputs.ledgers:
        own = sorted((r.received_ns - (r.intended_ns or 0)) / 1e6 for r in ledger.receipts)
        per_sink.append(nearest_rank(own, 99.0) or 0.0)
    assert result.histogram is not None
    assert LatencyHistogram.decode(result.histogram).count == 200
    assert sum(per_sink) / len(per_sink) != pytest.approx(exact, rel=0.001)


def test_offered_rate_and_window_come_from_the_common_schedule() -> None:
    point_inputs = pooled_point_inputs(factories.inputs(loads=3), OPTIONS)
    assert point_inputs.offered_per_s == pytest.approx(factories.RATE)
    assert point_inputs.load_start_ns == factories.T0
    assert point_inputs.load_end_ns == factories.T0 + round(factories.DURATION_S * 1e9)
    assert point_inputs.instances == 2
    assert point_inputs.mean_sink_latency_s == pytest.approx(0.005)
    assert len(point_inputs.acked) == 200
    assert len({a.id for a in point_inputs.acked}) == 200


def test_producers_without_shards_are_schedules_of_their_own() -> None:
    inputs = factories.inputs(loads=2)
    plain = tuple(dataclasses.replace(item, manifest=None) for item in inputs.loads)
    point_inputs = pooled_point_inputs(dataclasses.replace(inputs, loads=plain), OPTIONS)
    assert point_inputs.offered_per_s == pytest.approx(2 * factories.RATE)


def test_different_parameters_are_refused_naming_the_file() -> None:
    inputs = factories.inputs(loads=2)
    path, other = inputs.manifests[1]
    changed = dataclasses.replace(other, params_hash="0" * 64)
    bad = dataclasses.replace(
        inputs, manifests=(inputs.manifests[0], (path, changed), *inputs.manifests[2:])
    )
    with pytest.raises(MergeError) as err:
        merge_raw(bad, OPTIONS, factories.result_set(0).environment)
    assert str(err.value).startswith(f"{path}: load shard 1/2 was run with other parameters")


def test_the_same_shard_twice_is_refused() -> None:
    inputs = factories.inputs(loads=2)
    _path, first = inputs.manifests[0]
    twice = (inputs.manifests[0], (Path("/elsewhere/load.manifest.json"), first))
    with pytest.raises(MergeError, match="load shard 0/2 appears twice"):
        merge_raw(
            dataclasses.replace(inputs, manifests=twice),
            OPTIONS,
            factories.result_set(0).environment,
        )


def test_shards_of_different_runs_are_refused() -> None:
    inputs = factories.inputs(loads=2, sinks=2)
    renamed = tuple(
        (
            path,
            dataclasses.replace(
                m, run_id="run-2" if m.role == "sink" and m.shard == 1 else "run-1"
            ),
        )
        for path, m in inputs.manifests
    )
    with pytest.raises(MergeError) as err:
        merge_raw(
            dataclasses.replace(inputs, manifests=renamed),
            OPTIONS,
            factories.result_set(0).environment,
        )
    assert str(err.value) == (
        "/shards/sink-1/sink.manifest.json: sink 1/2 on host-sink-1 belongs to run 'run-2', "
        "/shards/load-0/load.manifest.json to run 'run-1': shards of different runs"
    )


def test_the_same_load_report_twice_is_refused() -> None:
    inputs = factories.inputs(loads=2)
    copy = dataclasses.replace(inputs.loads[0], path=Path("/copy/load.json"), manifest=None)
    with pytest.raises(MergeError) as err:
        merge_raw(
            dataclasses.replace(inputs, loads=(*inputs.loads, copy)),
            OPTIONS,
            factories.result_set(0).environment,
        )
    assert str(err.value) == (
        "/copy/load.json: the same load as /shards/load-0/load.json "
        f"(id prefix {factories.prefix(0)})"
    )


def test_missing_shards_are_warned_about() -> None:
    inputs = factories.inputs(loads=3)
    kept = tuple(item for item in inputs.manifests if item[1].shard != 2 or item[1].role != "load")
    result = _merged(dataclasses.replace(inputs, manifests=kept))
    assert any("load shards 2/3 are missing" in w for w in result.warnings)


@pytest.mark.parametrize(("skew_ms", "refused"), [(40, False), (60, True)])
def test_load_starts_further_apart_than_the_bound_are_refused(skew_ms: int, refused: bool) -> None:
    starts = [factories.T0, factories.T0 + skew_ms * 1_000_000, factories.T0 + 10_000_000]
    inputs = factories.inputs(loads=3, starts=starts)
    if not refused:
        assert _merged(inputs).produced == 200
        return
    with pytest.raises(MergeError) as err:
        merge_raw(inputs, OPTIONS, factories.result_set(0).environment)
    assert str(err.value) == (
        "/shards/load-1/load.json: its load started 60.000 ms after /shards/load-0/load.json's "
        "(more than --max-clock-skew 50ms): clocks or starts not synchronized"
    )


def test_host_clock_offsets_further_apart_than_the_bound_are_refused() -> None:
    inputs = factories.inputs(loads=2, offsets=[-30_000_000, 25_000_000])
    with pytest.raises(
        MergeError,
        match=r"load-1/load\.manifest\.json: its host's stated clock offset is 55\.000 ms ahead",
    ):
        merge_raw(inputs, OPTIONS, factories.result_set(0).environment)
    loose = MergeOptions(max_clock_skew_ns=100_000_000)
    (result,) = merge_raw(inputs, loose, factories.result_set(0).environment).points
    notes = [w for w in result.warnings if w.startswith("clock:")]
    assert (
        "clock: load 0/2 on host-load-0 (/shards/load-0/load.manifest.json): "
        "offset -30.000 ms (test)" in notes
    )
    assert any("sink 1/2 on host-sink-1" in w and "offset unknown" in w for w in notes)
    assert any(w.startswith("clock: consumer /shards/consumer-0/summary.json") for w in notes)


def test_nothing_to_merge_is_a_clear_error() -> None:
    inputs = factories.inputs()
    with pytest.raises(MergeError, match="no sink ledger"):
        merge_raw(
            dataclasses.replace(inputs, ledgers=()), OPTIONS, factories.result_set(0).environment
        )
    with pytest.raises(MergeError, match="no load-generator report"):
        merge_raw(
            dataclasses.replace(inputs, loads=()), OPTIONS, factories.result_set(0).environment
        )


# --- already measured results ---------------------------------------------------------


def _result_set(seed: int, scenario_hash: str = "a" * 64) -> ResultSet:
    return factories.result_set(seed, scenario_hash)


def test_histograms_merge_bucket_by_bucket_like_pooled_samples() -> None:
    rng = random.Random(3)
    values = [int(rng.expovariate(1 / 50e6)) for _ in range(3000)]
    pooled, halves = LatencyHistogram(), [LatencyHistogram(), LatencyHistogram()]
    for i, v in enumerate(values):
        pooled.record_ns(v)
        halves[i % 2].record_ns(v)
    merged = merge_histograms(h.encode() for h in halves)
    assert merged.count == pooled.count == 3000
    assert merged.summary() == pooled.summary()


def test_results_merge_sums_counts_and_pools_histograms() -> None:
    a, b = _result_set(1), _result_set(2)
    items = [
        ResultsInput(path=Path("/a/results.json"), result_set=a),
        ResultsInput(path=Path("/b/results.json"), result_set=b),
    ]
    merged = merge_results(items, OPTIONS)
    assert len(merged.points) == 2
    for i, got in enumerate(merged.points):
        pa, pb = a.points[i], b.points[i]
        assert got.params == pa.params
        assert pa.produced is not None and pb.produced is not None
        assert pa.delivered is not None and pb.delivered is not None
        assert got.produced == pa.produced + pb.produced
        assert got.delivered == pa.delivered + pb.delivered
        assert got.throughput_per_s == pytest.approx(
            (pa.throughput_per_s or 0) + (pb.throughput_per_s or 0)
        )
        assert pa.histogram is not None and pb.histogram is not None
        pooled = merge_histograms([pa.histogram, pb.histogram])
        assert got.latency_ms is not None
        assert got.latency_ms.p99 == pooled.summary().p99
        assert LatencyHistogram.decode(got.histogram or "").count == pooled.count
        assert got.timeline[0].delivered_per_s == pytest.approx(
            pa.timeline[0].delivered_per_s + pb.timeline[0].delivered_per_s
        )
        assert got.error is None
        assert any("histograms added bucket by bucket" in w for w in got.warnings)
    assert not math.isnan(merged.points[0].metrics()["p99_ms"])


def test_results_of_different_scenarios_are_refused() -> None:
    items = [
        ResultsInput(path=Path("/a/results.json"), result_set=_result_set(1)),
        ResultsInput(path=Path("/b/results.json"), result_set=_result_set(2, "b" * 64)),
    ]
    with pytest.raises(MergeError) as err:
        merge_results(items, OPTIONS)
    assert str(err.value).startswith("/b/results.json: scenario hash bbbbbbbbbbbb differs")


def test_raw_outputs_and_results_are_not_mixed() -> None:
    inputs = dataclasses.replace(
        factories.inputs(),
        results=(ResultsInput(path=Path("/a/results.json"), result_set=_result_set(1)),),
    )
    with pytest.raises(MergeError, match=r"mix raw shard outputs and results\.json"):
        merge(inputs, OPTIONS, factories.result_set(0).environment)


def test_dead_letters_read_by_id_are_not_lost() -> None:
    letters_of_run = {
        factories.event_id(factories.prefix(0), 3): "550 no",
        factories.event_id(factories.prefix(1), 4): "550 no",
    }
    inputs = factories.inputs(drop=frozenset(letters_of_run))
    elsewhere = {"99999999-0000-4000-8000-000000000001": "550 old run"}
    letters = DeadLetters(by_id={**letters_of_run, **elsewhere}, topic="email-dlq")
    (result,) = merge_raw(inputs, OPTIONS, factories.result_set(0).environment, letters).points
    assert (result.produced, result.delivered, result.dead_lettered, result.lost) == (
        200,
        198,
        2,
        0,
    )
    assert result.inconsistencies == 0
    assert (
        "merge: 2 dead letters of this run read from topic email-dlq (1 of other runs ignored)"
        in (result.warnings)
    )


def test_split_by_run_keeps_this_runs_prefixes() -> None:
    letters = DeadLetters(by_id={"a-1": "x", "b-2": "y", "c-3": "z"}, without_id=1, topic="t")
    mine = split_by_run(letters, ["a-", "c-"])
    assert dict(mine.by_id) == {"a-1": "x", "c-3": "z"}
    assert (mine.other_runs, mine.without_id, mine.topic) == (1, 1, "t")


def test_each_hosts_stated_clock_offset_is_subtracted_from_its_stamps() -> None:
    """Load host 0 runs 20 ms ahead, sink host 1 15 ms behind: with their offsets stated,
    the merged latencies and counts are those of synchronized clocks (they were shifted
    by up to 35 ms when the offsets were only bounded)."""
    exact = _merged(factories.inputs(loads=2, sinks=2, seed=3))
    shifted = factories.inputs(
        loads=2, sinks=2, seed=3, offsets=[20_000_000, 0], sink_offsets=[0, -15_000_000]
    )
    corrected = _merged(shifted)
    assert corrected.latency_ms == exact.latency_ms
    assert corrected.throughput_per_s == exact.throughput_per_s
    assert (corrected.produced, corrected.delivered) == (exact.produced, exact.delivered)
    assert any("stated offset was subtracted" in w for w in corrected.warnings)


def test_a_shard_that_counted_nothing_leaves_the_merged_counts_unknown() -> None:
    a, b = _result_set(1), _result_set(2)
    failed = dataclasses.replace(
        b.points[0],
        error="a part of the harness failed under load",
        produced=None,
        delivered=None,
        lost=0,
        duplicates=0,
        retried=0,
        dead_lettered=0,
        dropped_by_broker=0,
        undelivered=0,
        inconsistencies=0,
    )
    b = dataclasses.replace(b, points=(failed, *b.points[1:]))
    items = [
        ResultsInput(path=Path("/a/results.json"), result_set=a),
        ResultsInput(path=Path("/b/results.json"), result_set=b),
    ]
    got = merge_results(items, OPTIONS).points[0]
    assert got.produced is None and got.delivered is None  # not a's part alone
    assert got.error is not None and "/b/results.json" in got.error
    assert merge_results(items, OPTIONS).points[1].produced is not None


# Hosts booted hours apart: their CLOCK_MONOTONIC readings differ by that much.
_BOOTS = [factories.T0 - 3_600 * 10**9, factories.T0 - 86_400 * 10**9]


def test_monotonic_stamps_go_on_the_wall_timeline_with_each_shards_clock_pair() -> None:
    """Every host stamps its own CLOCK_MONOTONIC (counting from its boot) and states an
    offset: the merged figures are those of synchronized wall clocks. Without the pairs
    the stamps of different hosts would be a day apart."""
    exact = _merged(factories.inputs(loads=2, sinks=2, seed=3))
    shifted = factories.inputs(
        loads=2, sinks=2, seed=3, offsets=[20_000_000, 0], sink_offsets=[0, -15_000_000]
    )
    monotonic = factories.on_monotonic(
        shifted, load_boots=_BOOTS, sink_boots=list(reversed(_BOOTS))
    )
    assert all(m.format == 2 for _p, m in monotonic.manifests)
    corrected = _merged(monotonic)
    assert corrected.latency_ms == exact.latency_ms
    assert corrected.throughput_per_s == exact.throughput_per_s
    assert (corrected.produced, corrected.delivered) == (exact.produced, exact.delivered)
    assert any("stated offset was subtracted" in w for w in corrected.warnings)
    assert any("with each shard's clock pair" in w for w in corrected.warnings)
    # The consumers' start stamps have no pair: on several hosts they are not placed.
    assert exact.service_ms is not None
    assert corrected.service_ms is None
    assert any("service and wait times are n/a" in w for w in corrected.warnings)


def test_on_one_host_the_consumers_start_stamps_are_placed_with_the_sinks_pair() -> None:
    exact = _merged(factories.inputs(loads=2, sinks=2, seed=3))
    boot = [_BOOTS[0], _BOOTS[0]]
    one_host = factories.on_monotonic(
        factories.inputs(loads=2, sinks=2, seed=3), load_boots=boot, sink_boots=boot, host="h"
    )
    merged = _merged(one_host)
    assert merged.latency_ms == exact.latency_ms
    assert merged.service_ms == exact.service_ms


def test_a_ledger_on_the_monotonic_clock_without_a_pair_beside_paired_shards_is_refused() -> None:
    given = factories.on_monotonic(
        factories.inputs(loads=2, sinks=2, seed=3), load_boots=_BOOTS, sink_boots=_BOOTS
    )
    bare = dataclasses.replace(given.ledgers[1], manifest=None)
    mixed = dataclasses.replace(
        given,
        ledgers=(given.ledgers[0], bare),
        manifests=tuple(
            (p, m) for p, m in given.manifests if m.output != "sink.jsonl" or m.shard == 0
        ),
    )
    with pytest.raises(MergeError, match=r"sink-1/sink\.jsonl: its receipts are stamped on"):
        _merged(mixed)
