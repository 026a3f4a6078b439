"""The exact merge of shard outputs into one result (pure: no file, clock or process).

Two kinds of input:
- Raw shard outputs (load reports, sink ledgers, consumer summaries, manifests): every
  receipt of every sink is pooled, every produced id of every load shard is listed, and
  the point is measured once by `poolbench.run.measure.measure` over the pooled inputs.
  So ids count as sets (an id received by two sinks is a duplicate, an id no load shard
  produced is an inconsistency), and the merged p99 is the p99 of all pooled receipts,
  never an average of the shards' p99s.
- Already measured `results.json` files: points with the same params and repeat are
  combined; their latency histograms (HdrHistogram) are added bucket by bucket, which
  is exact, so the merged percentiles are those of all the shards' samples together
  (within the histogram's 1%); counts, rates and resources are summed.

Refused (`MergeError`, naming the file): shards of one role whose parameters differ
(their manifests' `params_hash`), results of different scenarios, the same shard twice,
load shards whose starts lie further apart than `max_clock_skew_ns`, and hosts whose
stated clock offsets lie further apart than that bound. Every input's clock offset, or
that it is unknown, goes into the merged point's warnings; a stated offset is subtracted
from the stamps its host made (a load shard's start and intended times, matched to
receipts by the id prefix; a sink's receipt times), an unknown one counts as 0.

Why one module of ~620 lines: both kinds of merge run the same checks (manifests,
clock spread, params hashes) and fill the same warnings, and the dispatcher `merge`
chooses between them; split, the checks would need a module of their own that the two
merges and the dispatcher import, for no reader's gain. File reading is `inputs.py`'s.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from poolbench.loadgen.schedule import parse_profile
from poolbench.merge.inputs import (
    DeadLetters,
    Inputs,
    LoadInput,
    MergeError,
    ResultsInput,
    split_by_run,
)
from poolbench.merge.manifest import ShardManifest
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import (
    Environment,
    Latency,
    Memory,
    PointResult,
    ResultSet,
    TimelineSample,
)
from poolbench.run.accounting import Acked
from poolbench.run.budget import StepsLike
from poolbench.run.figures import LoadMode
from poolbench.run.measure import PointInputs, measure
from poolbench.run.samples import NS_PER_S
from poolbench.run.stored import stored_point
from poolbench.sink.latency import parse_latency
from poolbench.sink.receipt import Receipt

DEFAULT_MAX_CLOCK_SKEW_NS: Final = 50_000_000
# Draws used to estimate a sink latency model's mean (for the ideal throughput only).
_MEAN_DRAWS: Final = 20_000
_EXAMPLES: Final = 3
# A message id is its load's id prefix plus 12 hex digits of its sequence number.
_ID_SEQ_DIGITS: Final = 12
# A shard that began this much after --start-at-ns is named in the warnings (less is the
# sleep's own jitter).
LATE_NOTE_NS: Final = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeOptions:
    max_clock_skew_ns: int = DEFAULT_MAX_CLOCK_SKEW_NS
    warmup_s: float = 0.0
    workers: int = 10  # per consumer instance, for the ideal throughput
    name: str = "merged"


@dataclass(frozen=True, slots=True, kw_only=True)
class PooledReceipt:
    """A sink receipt as `measure` reads it (the ledger holds no per-step stamps)."""

    id: str
    intended_ns: int | None
    started_ns: int | None
    received_ns: int
    steps: StepsLike | None = None


def pooled(
    receipts: Iterable[Receipt],
    *,
    sink_offset_ns: int = 0,
    load_offsets_ns: dict[str, int] | None = None,
) -> list[PooledReceipt]:
    """Receipts on the reference clock: each host's stated offset subtracted (the sink's
    from receipt times; the load shard's, found by the id's prefix, from intended times).
    The consumer's start stamps keep their host's clock: its offset is never stated."""
    offsets = load_offsets_ns or {}
    return [
        PooledReceipt(
            id=r.id,
            intended_ns=None
            if r.intended_ns is None
            else r.intended_ns - offsets.get(r.id[:-_ID_SEQ_DIGITS], 0),
            started_ns=r.started_ns,
            received_ns=r.received_ns - sink_offset_ns,
        )
        for r in receipts
    ]


def _offset_ns(manifest: ShardManifest | None) -> int:
    """A host's stated clock offset; 0 when unknown (said so in the warnings)."""
    return 0 if manifest is None or manifest.clock_offset_ns is None else manifest.clock_offset_ns


def _ms(ns: int) -> str:
    return f"{ns / 1e6:+.3f} ms"


def _examples(ids: Iterable[str]) -> str:
    chosen = sorted(ids)[:_EXAMPLES]
    return ", ".join(chosen) + (", ..." if len(chosen) == _EXAMPLES else "")


# --- refusals -------------------------------------------------------------------------


def check_manifests(manifests: Sequence[tuple[Path, ShardManifest]]) -> list[str]:
    """Refuse shards of one role that disagree or repeat; warnings for missing shards."""
    notes: list[str] = []
    named = [(p, m) for p, m in manifests if m.run_id is not None]
    for path, m in named[1:]:
        if m.run_id != named[0][1].run_id:
            raise MergeError(
                f"{m.label} belongs to run {m.run_id!r}, {named[0][0]} to run "
                f"{named[0][1].run_id!r}: shards of different runs",
                path=str(path),
            )
    for role in sorted({m.role for _p, m in manifests}):
        mine = [(p, m) for p, m in manifests if m.role == role]
        first_path, first = mine[0]
        seen: dict[int, Path] = {}
        for path, m in mine:
            if m.params_hash != first.params_hash:
                raise MergeError(
                    f"{role} shard {m.shard}/{m.shards} was run with other parameters than "
                    f"{first_path} (params hash {m.params_hash[:12]} != "
                    f"{first.params_hash[:12]}): shards of different loads",
                    path=str(path),
                )
            if m.shard in seen:
                raise MergeError(
                    f"{role} shard {m.shard}/{m.shards} appears twice (also {seen[m.shard]})",
                    path=str(path),
                )
            seen[m.shard] = path
        missing = sorted(set(range(first.shards)) - set(seen))
        if missing:
            notes.append(
                f"merge: {role} shards {', '.join(f'{i}/{first.shards}' for i in missing)} "
                "are missing from the inputs"
            )
    return notes


def check_results(results: Sequence[ResultsInput]) -> None:
    if not results:
        return
    first = results[0]
    for item in results[1:]:
        if item.result_set.scenario_hash != first.result_set.scenario_hash:
            raise MergeError(
                f"scenario hash {item.result_set.scenario_hash[:12]} differs from "
                f"{first.path}'s {first.result_set.scenario_hash[:12]}: results of different "
                "scenarios",
                path=str(item.path),
            )


def _spread_check(values: Sequence[tuple[Path, int]], *, bound_ns: int, what: str) -> None:
    """Refuse values further apart than `bound_ns`, naming the file of the highest one.

    `what` reads "{gap} after {other file}", e.g. "its load started {gap} after {other}".
    """
    if len(values) < 2:
        return
    ordered = sorted(values, key=lambda item: item[1])
    (low_path, low), (high_path, high) = ordered[0], ordered[-1]
    if high - low > bound_ns:
        gap = f"{(high - low) / 1e6:.3f} ms"
        raise MergeError(
            what.format(gap=gap, other=low_path)
            + f" (more than --max-clock-skew {bound_ns / 1e6:g}ms): clocks or starts not "
            "synchronized",
            path=str(high_path),
        )


def check_clocks(inputs: Inputs, max_skew_ns: int) -> None:
    """Refuse load starts (on the reference clock: each host's stated offset subtracted)
    or stated host clock offsets further apart than `max_skew_ns`."""
    _spread_check(
        [
            (item.path, item.report.start_wall_ns - _offset_ns(item.manifest))
            for item in inputs.loads
        ],
        bound_ns=max_skew_ns,
        what="its load started {gap} after {other}'s",
    )
    _spread_check(
        [(p, m.clock_offset_ns) for p, m in inputs.manifests if m.clock_offset_ns is not None],
        bound_ns=max_skew_ns,
        what="its host's stated clock offset is {gap} ahead of {other}'s",
    )


def clock_notes(inputs: Inputs) -> list[str]:
    """One line per input: its host's clock offset, or that it is unknown."""
    notes = []
    for path, m in inputs.manifests:
        offset = (
            "unknown"
            if m.clock_offset_ns is None
            else f"{_ms(m.clock_offset_ns)} ({m.clock_source or 'stated'})"
        )
        notes.append(f"clock: {m.label} ({path}): offset {offset}")
    described = {(p.parent, m.output) for p, m in inputs.manifests}
    for path in [*(i.path for i in inputs.loads), *(i.path for i in inputs.ledgers)]:
        if (path.parent, path.name) not in described:
            notes.append(f"clock: {path}: no manifest, offset unknown")
    for summary in inputs.summaries:
        notes.append(
            f"clock: consumer {summary.path}: offset unknown (its clock only enters the "
            "service and wait times, through the worker start stamp)"
        )
    if inputs.loads:
        starts = [item.report.start_wall_ns for item in inputs.loads]
        notes.append(
            f"clock: load starts span {(max(starts) - min(starts)) / 1e6:.3f} ms over "
            f"{len(starts)} shard(s)"
        )
    return notes


# --- raw shard outputs ----------------------------------------------------------------


def produced_ids(item: LoadInput) -> list[Acked]:
    """Every id the broker acknowledged to a load shard, with its partition and offset."""
    return [Acked(id=i, partition=p, offset=o) for i, p, o in item.report.acked()]


def mean_latency_s(text: str) -> float:
    """The mean of a sink latency model, from seeded draws (for the ideal throughput)."""
    model = parse_latency(text, what="sink latency")
    rng = random.Random(0)
    return sum(model.sample(rng) for _ in range(_MEAN_DRAWS)) / _MEAN_DRAWS


def _load_window(loads: Sequence[LoadInput]) -> tuple[int, int]:
    """(origin, end) of the pooled load in wall ns: earliest start to the last shard's end."""
    origin = min(item.report.start_wall_ns - _offset_ns(item.manifest) for item in loads)
    ends = []
    for item in loads:
        report = item.report
        start = report.start_wall_ns - _offset_ns(item.manifest)
        duration = report.spec.get("duration_s")
        if report.stopped_early or report.spec.get("count") is not None or duration is None:
            ends.append(start + round(report.send_elapsed_s * NS_PER_S))
        else:
            ends.append(start + round(float(duration) * NS_PER_S))
    return origin, max(ends)


def _offered(loads: Sequence[LoadInput], origin: int, end: int, warmup_s: float) -> float | None:
    """The pooled schedules' rate over the steady window (None: no schedule).

    The shards of one `--shard` load report the whole schedule they make together (see
    `ShardProfile`), so it counts once; a report without a manifest is a schedule of its own.
    """
    schedules: dict[str, str] = {}
    for item in loads:
        key = str(item.path) if item.manifest is None else item.manifest.params_hash
        schedules[key] = str(item.report.spec.get("rate", "max"))
    start_s = warmup_s
    end_s = (end - origin) / NS_PER_S
    if end_s <= start_s:
        return None
    count = 0.0
    for text in schedules.values():
        profile = parse_profile(text, what="rate")
        if profile.is_max:
            return None
        count += profile.expected_count(end_s) - profile.expected_count(start_s)
    return count / (end_s - start_s)


def cross_sink_duplicates(inputs: Inputs) -> dict[str, list[Path]]:
    """Ids received by more than one sink, with the ledgers that hold them."""
    where: dict[str, list[Path]] = {}
    for ledger in inputs.ledgers:
        for rid in {r.id for r in ledger.receipts if r.id}:
            where.setdefault(rid, []).append(ledger.path)
    return {rid: paths for rid, paths in where.items() if len(paths) > 1}


def pooled_point_inputs(
    inputs: Inputs, options: MergeOptions, dead_letters: DeadLetters | None = None
) -> PointInputs:
    """The pooled `PointInputs` of raw shard outputs (refusals are checked first).

    `dead_letters`: read from the dead-letter topic (`dlq.read_dead_letters`); without
    them, dead-lettered emails count as lost (the shard outputs hold no dead-letter ids).
    """
    if not inputs.loads:
        raise MergeError("no load-generator report (poolbench produce --report) in the inputs")
    if not inputs.ledgers:
        raise MergeError("no sink ledger (poolbench sink --record) in the inputs")
    notes = check_manifests(inputs.manifests)
    check_clocks(inputs, options.max_clock_skew_ns)
    modes = {item.report.spec.get("backlog") is not None for item in inputs.loads}
    if len(modes) > 1:
        raise MergeError(
            "load shards mix saturating (--backlog) and scheduled loads",
            path=str(inputs.loads[0].path),
        )
    mode = LoadMode.SATURATE if modes == {True} else LoadMode.OPEN
    acked: list[Acked] = []
    poison: set[str] = set()
    prefixes: dict[str, Path] = {}
    for item in inputs.loads:
        # The same report twice (a copied folder) would double every id.
        seen = prefixes.setdefault(item.report.id_prefix, item.path)
        if seen != item.path:
            raise MergeError(
                f"the same load as {seen} (id prefix {item.report.id_prefix})", path=str(item.path)
            )
        acked.extend(produced_ids(item))
        poison.update(item.report.poison_ids)
        report = item.report
        if not report.complete:
            notes.append(
                f"merge: {item.path}: the broker acknowledged {report.acknowledged} of "
                f"{report.produced} events; only those count as produced"
            )
        late_ns = 0 if item.manifest is None else (item.manifest.late_ns or 0)
        if late_ns >= LATE_NOTE_NS:
            notes.append(f"merge: {item.path}: started {late_ns / 1e6:.1f} ms after --start-at-ns")
    load_offsets = {item.report.id_prefix: _offset_ns(item.manifest) for item in inputs.loads}
    receipts = [
        r
        for ledger in inputs.ledgers
        for r in pooled(
            ledger.receipts,
            sink_offset_ns=_offset_ns(ledger.manifest),
            load_offsets_ns=load_offsets,
        )
    ]
    if any(load_offsets.values()) or any(_offset_ns(x.manifest) for x in inputs.ledgers):
        notes.append(
            "clock: each shard's stated offset was subtracted from its host's stamps "
            "(load: start and intended times; sink: receipt times)"
        )
    shared = cross_sink_duplicates(inputs)
    if shared:
        notes.append(
            f"merge: {len(shared)} ids were received by more than one sink "
            f"({_examples(shared)}): counted once, the rest as duplicates"
        )
    summaries = [s.summary for s in inputs.summaries]
    dead = sum(int(s.get("dead_lettered", 0)) for s in summaries)
    mine = DeadLetters()
    if dead_letters is not None:
        mine = split_by_run(dead_letters, (item.report.id_prefix for item in inputs.loads))
        notes.append(
            f"merge: {len(mine.by_id)} dead letters of this run read from topic "
            f"{dead_letters.topic}"
            + (f" ({mine.other_runs} of other runs ignored)" if mine.other_runs else "")
        )
    elif dead:
        notes.append(
            f"merge: the consumers dead-lettered {dead} events; shard outputs hold no "
            "dead-letter ids, so they count as lost here (give --dlq-topic to read them)"
        )
    sink_latency = next(
        (m.params.get("latency") for _p, m in inputs.manifests if m.role == "sink"), None
    )
    if sink_latency is None:
        notes.append("merge: no sink manifest: the sink latency (for the ideal) is taken as 0")
    origin, end = _load_window(inputs.loads)
    window_start = origin + round(options.warmup_s * NS_PER_S)
    notes.extend(clock_notes(inputs))
    return PointInputs(
        receipts=receipts,
        mode=mode,
        load_start_ns=origin,
        load_end_ns=max(end, window_start + 1),
        warmup_s=options.warmup_s,
        workers=options.workers,
        instances=max(1, len(summaries)),
        mean_sink_latency_s=0.0 if sink_latency is None else mean_latency_s(str(sink_latency)),
        offered_per_s=None
        if mode is LoadMode.SATURATE
        else _offered(inputs.loads, origin, end, options.warmup_s),
        acked=acked,
        dead_letters=mine.by_id,
        dead_letters_without_id=mine.without_id,
        poison_ids=frozenset(poison),
        retried=sum(int(s.get("retried", 0)) for s in summaries),
        resources_sampled=False,
        notes=tuple(notes),
    )


def merged_hash(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def merge_raw(
    inputs: Inputs,
    options: MergeOptions,
    environment: Environment,
    dead_letters: DeadLetters | None = None,
) -> ResultSet:
    """One result set, one point: the pooled measurement of raw shard outputs."""
    point_inputs = pooled_point_inputs(inputs, options, dead_letters)
    measurement = measure(point_inputs)
    roles = {m.role: m for _p, m in inputs.manifests}
    params: dict[str, Any] = {
        "load_shards": len(inputs.loads),
        "sinks": len(inputs.ledgers),
        "instances": point_inputs.instances,
        "workers": options.workers,
    }
    hashes = sorted({f"{m.role}:{m.params_hash}" for _p, m in inputs.manifests})
    return ResultSet(
        scenario_name=options.name,
        scenario={
            "merge": {
                "inputs": sorted(
                    {
                        str(p)
                        for p in [
                            *(i.path for i in inputs.loads),
                            *(i.path for i in inputs.ledgers),
                        ]
                    }
                    | {str(s.path) for s in inputs.summaries}
                ),
                "params": {role: dict(m.params) for role, m in sorted(roles.items())},
                "max_clock_skew_ms": options.max_clock_skew_ns / 1e6,
                "warmup_s": options.warmup_s,
            }
        },
        scenario_hash=merged_hash(hashes),
        environment=environment,
        points=(stored_point(measurement, params=params),),
    )


# --- already measured results -----------------------------------------------------------


def merge_histograms(encoded: Iterable[str]) -> LatencyHistogram:
    """The bucket-by-bucket sum of encoded histograms (exact: counts add)."""
    total = LatencyHistogram()
    for text in encoded:
        total.merge(LatencyHistogram.decode(text))
    return total


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))


def _merged_latency(encoded: Sequence[str | None]) -> tuple[Latency | None, str | None]:
    if not encoded or any(text is None for text in encoded):
        return None, None
    hist = merge_histograms(text for text in encoded if text is not None)
    if hist.count == 0:
        return None, None
    return Latency.from_mapping(hist.summary().as_dict()), hist.encode()


def _merged_timeline(points: Sequence[PointResult]) -> tuple[TimelineSample, ...]:
    rows: dict[float, list[TimelineSample]] = {}
    for point in points:
        for sample in point.timeline:
            rows.setdefault(sample.t_s, []).append(sample)

    def total(values: Iterable[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return float(sum(present)) if present else None

    return tuple(
        TimelineSample(
            t_s=t,
            delivered_per_s=sum(s.delivered_per_s for s in samples),
            queue_depth=total(s.queue_depth for s in samples),
            p99_ms=None,  # a per-second p99 cannot be combined without its samples
            rss_mb=total(s.rss_mb for s in samples),
        )
        for t, samples in sorted(rows.items())
    )


def merge_points(points: Sequence[tuple[Path, PointResult]], notes: Sequence[str]) -> PointResult:
    """Combine one point measured by several shards (same params and repeat)."""
    first_path, first = points[0]
    for path, point in points[1:]:
        if point.load_mode != first.load_mode:
            raise MergeError(
                f"load mode {point.load_mode} differs from {first_path}'s {first.load_mode}",
                path=str(path),
            )
    results = [p for _path, p in points]
    latency, histogram = _merged_latency([p.histogram for p in results])
    service, service_histogram = _merged_latency([p.service_histogram for p in results])
    errors = [f"{path}: {p.error}" for path, p in points if p.error is not None]
    if latency is None and not errors:
        errors.append("a shard's point has no latency histogram: latency not merged")
    memories = [p.memory_mb for p in results]
    memory = (
        None
        if any(m is None for m in memories)
        else Memory(
            peak=sum(m.peak for m in memories if m is not None),
            mean=sum(m.mean for m in memories if m is not None),
        )
    )
    if memory is None and not errors:
        errors.append("a shard's point has no memory figure: memory not merged")
    throughput = _sum_or_none([p.throughput_per_s for p in results])
    if throughput is None and not errors:
        errors.append("a shard's point has no throughput: throughput not merged")
    kept = [p.kept_up for p in results]
    parts: dict[str, float] = {}
    for p in results:
        for part, value in p.cpu_by_part.items():
            parts[part] = parts.get(part, 0.0) + value
    warnings = [*notes]
    warnings.append(
        f"merge: {len(points)} shard results combined: histograms added bucket by bucket, "
        "counts, rates, memory and CPU summed; ids were not stored, so duplicates across "
        "shards cannot be detected"
    )
    for path, p in points:
        warnings.extend(f"{path}: {w}" for w in p.warnings)
    return PointResult(
        params=dict(first.params),
        repeat=first.repeat,
        load_mode=first.load_mode,
        throughput_per_s=throughput,
        ideal_throughput_per_s=_sum_or_none([p.ideal_throughput_per_s for p in results]),
        latency_ms=latency,
        memory_mb=memory,
        cpu_percent=_sum_or_none([p.cpu_percent for p in results]),
        produced=sum(p.produced for p in results),
        delivered=sum(p.delivered for p in results),
        lost=sum(p.lost for p in results),
        duplicates=sum(p.duplicates for p in results),
        retried=sum(p.retried for p in results),
        dead_lettered=sum(p.dead_lettered for p in results),
        dropped_by_broker=sum(p.dropped_by_broker for p in results),
        undelivered=sum(p.undelivered for p in results),
        inconsistencies=sum(p.inconsistencies for p in results),
        offered_per_s=_sum_or_none([p.offered_per_s for p in results]),
        kept_up=None if any(k is None for k in kept) else all(kept),
        service_ms=service,
        cpu_by_part=parts,
        harness_saturated=any(p.harness_saturated for p in results),
        error="; ".join(errors) if errors else None,
        warnings=tuple(warnings),
        timeline=_merged_timeline(results),
        histogram=histogram,
        service_histogram=service_histogram,
    )


def merge_results(
    results: Sequence[ResultsInput],
    options: MergeOptions,
    *,
    notes: Sequence[str] = (),
) -> ResultSet:
    """Combine shard `results.json` files point by point (refusals are checked first)."""
    if not results:
        raise MergeError("no results.json in the inputs")
    check_results(results)
    groups: dict[tuple[str, int], list[tuple[Path, PointResult]]] = {}
    for item in results:
        for point in item.result_set.points:
            groups.setdefault((point.params_key, point.repeat), []).append((item.path, point))
    merged = []
    for (_key, _repeat), points in groups.items():
        extra = list(notes)
        if len(points) < len(results):
            have = {str(path) for path, _p in points}
            missing = [str(i.path) for i in results if str(i.path) not in have]
            extra.append(f"merge: this point is missing from {', '.join(missing)}")
        merged.append(merge_points(points, extra))
    first = results[0].result_set
    partial = any(item.result_set.partial for item in results)
    return ResultSet(
        scenario_name=first.scenario_name,
        scenario=first.scenario,
        scenario_hash=first.scenario_hash,
        environment=first.environment,
        points=tuple(merged),
        partial=partial,
        stop_reason="; ".join(
            f"{i.path}: {i.result_set.stop_reason}" for i in results if i.result_set.stop_reason
        )
        or None,
    )


def merge(
    inputs: Inputs,
    options: MergeOptions,
    environment: Environment,
    dead_letters: DeadLetters | None = None,
) -> ResultSet:
    """Raw shard outputs, or shard results.json files (not both in one merge)."""
    raw = bool(inputs.loads or inputs.ledgers or inputs.summaries)
    if raw and inputs.results:
        raise MergeError(
            "the inputs mix raw shard outputs and results.json files: merge one kind at a time",
            path=str(inputs.results[0].path),
        )
    if inputs.results:
        notes = check_manifests(inputs.manifests)
        check_clocks(inputs, options.max_clock_skew_ns)
        notes += clock_notes(inputs)
        if not inputs.manifests:
            notes.append("clock: no shard manifest among the inputs: every clock offset unknown")
        return merge_results(inputs.results, options, notes=notes)
    return merge_raw(inputs, options, environment, dead_letters)


__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW_NS",
    "MergeOptions",
    "PooledReceipt",
    "check_clocks",
    "check_manifests",
    "check_results",
    "clock_notes",
    "cross_sink_duplicates",
    "mean_latency_s",
    "merge",
    "merge_histograms",
    "merge_points",
    "merge_raw",
    "merge_results",
    "pooled",
    "pooled_point_inputs",
    "produced_ids",
]
