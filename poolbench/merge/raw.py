"""Raw shard outputs -> one measured point (pure).

Every receipt of every sink is pooled, every produced id of every load shard is listed,
and the point is measured once by `poolbench.run.measure.measure` over the pooled inputs.
So ids count as sets (an id received by two sinks is a duplicate, an id no load shard
produced is an inconsistency), and the merged p99 is the p99 of all pooled receipts,
never an average of the shards' p99s. Every stamp is put on one timeline first
(`timeline`): a shard's CLOCK_MONOTONIC stamps onto the wall clock with the pair it read
at its start, and its host's stated clock offset subtracted (a load shard's start and
intended times, matched to receipts by the id prefix; a sink's receipt times); an
unknown offset counts as 0.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from poolbench.loadgen.schedule import parse_profile
from poolbench.merge.clocks import check_clocks, check_manifests, clock_notes, offset_ns
from poolbench.merge.inputs import (
    DeadLetters,
    Inputs,
    LoadInput,
    MergeError,
    split_by_run,
)
from poolbench.merge.options import MergeOptions
from poolbench.merge.timeline import timeline
from poolbench.results import (
    Environment,
    ResultSet,
)
from poolbench.run.accounting import Acked
from poolbench.run.budget import StepsLike
from poolbench.run.figures import LoadMode
from poolbench.run.measure import PointInputs, measure
from poolbench.run.samples import NS_PER_S
from poolbench.run.stored import stored_point
from poolbench.sink.latency import parse_latency
from poolbench.sink.receipt import Receipt

_EXAMPLES: Final = 3
# A shard that began this much after --start-at-ns is named in the warnings (less is the
# sleep's own jitter).
LATE_NOTE_NS: Final = 1_000_000
# Draws used to estimate a sink latency model's mean (for the ideal throughput only).
_MEAN_DRAWS: Final = 20_000
# A message id is its load's id prefix plus 12 hex digits of its sequence number.
_ID_SEQ_DIGITS: Final = 12


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
    keep_started: bool = True,
) -> list[PooledReceipt]:
    """Receipts on the merged timeline: `timeline = stamp - shift` (see `timeline`); the
    sink's shift for receipt times, the load shard's (found by the id's prefix) for
    intended times. The consumer's start stamps take the sink's shift (`keep_started`:
    they share its host's clock) or are dropped."""
    offsets = load_offsets_ns or {}
    return [
        PooledReceipt(
            id=r.id,
            intended_ns=None
            if r.intended_ns is None
            else r.intended_ns - offsets.get(r.id[:-_ID_SEQ_DIGITS], 0),
            started_ns=None
            if r.started_ns is None or not keep_started
            else r.started_ns - sink_offset_ns,
            received_ns=r.received_ns - sink_offset_ns,
        )
        for r in receipts
    ]


def _examples(ids: Iterable[str]) -> str:
    chosen = sorted(ids)[:_EXAMPLES]
    return ", ".join(chosen) + (", ..." if len(chosen) == _EXAMPLES else "")


def produced_ids(item: LoadInput) -> list[Acked]:
    """Every id the broker acknowledged to a load shard, with its partition and offset."""
    return [Acked(id=i, partition=p, offset=o) for i, p, o in item.report.acked()]


def mean_latency_s(text: str) -> float:
    """The mean of a sink latency model, from seeded draws (for the ideal throughput)."""
    model = parse_latency(text, what="sink latency")
    rng = random.Random(0)
    return sum(model.sample(rng) for _ in range(_MEAN_DRAWS)) / _MEAN_DRAWS


def _load_window(loads: Sequence[LoadInput], shifts: Mapping[str, int]) -> tuple[int, int]:
    """(origin, end) of the pooled load on the timeline: earliest start to the last
    shard's end."""
    origin = min(item.report.start_stamp_ns - shifts[item.report.id_prefix] for item in loads)
    ends = []
    for item in loads:
        report = item.report
        start = report.start_stamp_ns - shifts[report.id_prefix]
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
    line = timeline(inputs)
    receipts = [
        r
        for ledger, shift in zip(inputs.ledgers, line.sinks, strict=True)
        for r in pooled(
            ledger.receipts,
            sink_offset_ns=shift,
            load_offsets_ns=dict(line.loads),
            keep_started=line.keep_started,
        )
    ]
    notes.extend(line.notes)
    if any(offset_ns(x.manifest) for x in inputs.loads) or any(
        offset_ns(x.manifest) for x in inputs.ledgers
    ):
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
    origin, end = _load_window(inputs.loads, line.loads)
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
