"""The refusals and clock checks both kinds of merge run first (pure).

Refused (`MergeError`, naming the file): shards of one role whose parameters differ
(their manifests' `params_hash`), results of different scenarios, the same shard twice,
load shards whose starts lie further apart than `max_clock_skew_ns`, and hosts whose
stated clock offsets lie further apart than that bound. Every input's clock offset, or
that it is unknown, goes into the merged point's warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from poolbench.merge.inputs import (
    Inputs,
    MergeError,
    ResultsInput,
)
from poolbench.merge.manifest import ShardManifest


def offset_ns(manifest: ShardManifest | None) -> int:
    """A host's stated clock offset; 0 when unknown (said so in the warnings)."""
    return 0 if manifest is None or manifest.clock_offset_ns is None else manifest.clock_offset_ns


def _ms(ns: int) -> str:
    return f"{ns / 1e6:+.3f} ms"


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
            (item.path, item.report.start_wall_ns - offset_ns(item.manifest))
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
