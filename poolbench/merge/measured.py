"""Already measured `results.json` files -> one result (pure).

Points with the same params and repeat are combined; their latency histograms
(HdrHistogram) are added bucket by bucket, which is exact, so the merged percentiles are
those of all the shards' samples together (within the histogram's 1%); counts, rates and
resources are summed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from poolbench.merge.clocks import check_results
from poolbench.merge.inputs import (
    MergeError,
    ResultsInput,
)
from poolbench.merge.options import MergeOptions
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import (
    Latency,
    Memory,
    PointResult,
    ResultSet,
    TimelineSample,
)


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
    # A shard that counted nothing (its point failed under load: `errors` says so) leaves
    # the merged counts unknown, never the other shards' part of them.
    counted = all(p.produced is not None and p.delivered is not None for p in results)

    def total(name: str) -> int:
        return sum(int(getattr(p, name) or 0) for p in results) if counted else 0

    return PointResult(
        params=dict(first.params),
        repeat=first.repeat,
        load_mode=first.load_mode,
        throughput_per_s=throughput,
        ideal_throughput_per_s=_sum_or_none([p.ideal_throughput_per_s for p in results]),
        latency_ms=latency,
        memory_mb=memory,
        cpu_percent=_sum_or_none([p.cpu_percent for p in results]),
        produced=total("produced") if counted else None,
        delivered=total("delivered") if counted else None,
        lost=total("lost"),
        duplicates=total("duplicates"),
        retried=total("retried"),
        dead_lettered=total("dead_lettered"),
        dropped_by_broker=total("dropped_by_broker"),
        undelivered=total("undelivered"),
        inconsistencies=total("inconsistencies"),
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
