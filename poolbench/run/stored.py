"""A measurement in its stored form (`PointResult`), for the runner and `poolbench merge`.

Pure: no process, clock or I/O, so the merge (which turns shards' raw stamps into one
measurement) can store its point without pulling in the runner's process management.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poolbench.metrics.histogram import LatencySummary
from poolbench.results import (
    CPU_COST_FIELDS,
    CPU_PARTS,
    Budget,
    Latency,
    Memory,
    ParamValue,
    PartCpu,
    PointResult,
    PriorityResult,
    TimelineSample,
)
from poolbench.run.measure import Measurement


def _cpu_cost(measurement: Measurement) -> dict[str, Any]:
    """The exact CPU per email of each part, and its detail (`poolbench.run.cpu_cost`)."""
    detail = {
        role: PartCpu(
            cpu_s=cost.cpu_ns / 1e9,
            interval_s=cost.seconds,
            emails=cost.emails,
            threads={name: ns / 1e9 for name, ns in cost.threads.items()},
            busiest_thread=cost.busiest_thread,
            busiest_share=cost.busiest_share,
            processes_exited=cost.processes_exited,
        )
        for role, cost in measurement.cpu_costs.items()
        if role in CPU_PARTS
    }
    fields: dict[str, Any] = {"cpu_cost": detail}
    for part, name in CPU_COST_FIELDS.items():
        cost = detail.get(part)
        fields[name] = None if cost is None else cost.us_per_email
    return fields


def _latency(summary: LatencySummary | None) -> Latency | None:
    return None if summary is None else Latency.from_mapping(summary.as_dict())


def stored_point(
    measurement: Measurement,
    *,
    params: Mapping[str, ParamValue],
    repeat: int = 0,
    settings: Mapping[str, Any] | None = None,
) -> PointResult:
    """The stored form of a measurement, for the runner and for `poolbench merge`."""
    lat = measurement.latency
    acc = measurement.accounting
    rate = measurement.throughput
    memory = measurement.memory
    budget = measurement.budget
    return PointResult(
        params=dict(params),
        repeat=repeat,
        load_mode=str(measurement.mode),
        error=measurement.error,
        throughput_per_s=None if rate is None else rate.per_s,
        offered_per_s=None if rate is None else rate.offered_per_s,
        kept_up=None if rate is None else rate.kept_up,
        ideal_throughput_per_s=measurement.ideal_per_s,
        latency_ms=None if lat is None else _latency(lat.end_to_end),
        service_ms=None if lat is None else _latency(lat.service),
        wait_ms=None if lat is None else _latency(lat.wait),
        budget_ms=None if budget is None else Budget(**budget.as_dict()),  # type: ignore[arg-type]
        memory_mb=None if memory is None else Memory(peak=memory.peak_mb, mean=memory.mean_mb),
        cpu_percent=measurement.consumer_cpu_percent,
        cpu_by_part={
            role: use.cpu_percent for role, use in measurement.use.items() if role in CPU_PARTS
        },
        harness_saturated=measurement.harness_saturated,
        produced=acc.produced,
        delivered=acc.delivered,
        lost=acc.lost,
        duplicates=acc.duplicates,
        retried=acc.retried,
        dead_lettered=acc.dead_lettered,
        dropped_by_broker=acc.dropped_by_broker,
        undelivered=acc.undelivered,
        inconsistencies=len(acc.inconsistencies),
        by_priority={
            name: PriorityResult(
                emails=share.emails,
                throughput_per_s=share.throughput_per_s,
                latency_ms=_latency(share.latency.end_to_end),
                service_ms=_latency(share.latency.service),
            )
            for name, share in measurement.priorities.items()
        },
        consumer_settings=settings,
        warnings=measurement.warnings,
        timeline=tuple(
            TimelineSample(
                t_s=row.t_s,
                delivered_per_s=row.delivered_per_s,
                queue_depth=row.queue_depth,
                p99_ms=row.p99_ms,
                rss_mb=row.rss_mb,
                p99_by_priority_ms=row.p99_by_priority_ms,
                retried_per_s=row.retried_per_s,
                dead_lettered_per_s=row.dead_lettered_per_s,
                lag=row.lag,
            )
            for row in measurement.timeline
        ),
        histogram=None if lat is None else lat.histogram,
        service_histogram=None if lat is None else lat.service_histogram,
        load_s=measurement.load_s,
        **_cpu_cost(measurement),
        ready_s=None if measurement.startup is None else measurement.startup.ready_s,
        first_delivery_s=None
        if measurement.startup is None
        else measurement.startup.first_delivery_s,
        steady_s=None if measurement.startup is None else measurement.startup.steady_s,
    )
