"""Fixture result sets for the chart, report and HTML tests (no run needed)."""

from __future__ import annotations

import dataclasses
from typing import Any

from poolbench.results import Latency, Memory, PointResult, ResultSet, TimelineSample
from tests import synthetic

# The faults scenario as a run saw it: 50/s offered, a 2 s outage 8 s in, the breaker's
# 5 s cooldown: no delivery from 8 s to 13 s, then the backlog drains.
DELIVERED = [0, 48, 50, 50, 50, 50, 50, 50, 0, 0, 0, 0, 0, 260, 120, 50, 50]
RETRIED = [0, 2, 3, 2, 3, 2, 2, 3, 9, 3, 0, 0, 0, 1, 4, 3, 2]
DEAD = [0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0]
LAG = [0, 1, 0, 2, 1, 0, 1, 0, 30, 80, 130, 180, 230, 60, 5, 0, 0]


def faults_point(retries: int = 3, *, error: str | None = None) -> PointResult:
    timeline = tuple(
        TimelineSample(
            t_s=float(t),
            delivered_per_s=d,
            queue_depth=0.0 if d == 0 else 4.0,  # the backlog waits in Kafka, not the pool
            p99_ms=None if d == 0 else (60.0 if d <= 50 else 4_800.0),
            rss_mb=45.0 + t * 0.05,
            retried_per_s=float(RETRIED[t]),
            dead_lettered_per_s=float(DEAD[t]),
            lag=float(LAG[t]),
        )
        for t, d in enumerate(DELIVERED)
    )
    latency = Latency(avg=700, p50=60, p90=3_900, p95=4_400, p99=4_800, p999=5_000, max=5_100)
    measured = error is None
    return PointResult(
        params={"consumer.retries": retries},
        repeat=0,
        load_mode="open",
        throughput_per_s=47.9 if measured else None,
        offered_per_s=50.0 if measured else None,
        kept_up=True if measured else None,
        ideal_throughput_per_s=50.0,
        latency_ms=latency if measured else None,
        memory_mb=Memory(peak=46.2, mean=45.4),
        cpu_percent=9.0,
        produced=750,
        delivered=745,
        dead_lettered=5,
        retried=40,
        consumer_settings={"breaker_cooldown_s": 5.0, "max_retries": retries},
        timeline=timeline,
        load_s=15.0,
        error=error,
        warnings=() if measured else (f"error: {error}",),
    )


def faults(*, failed: bool = False, partial: bool = False) -> ResultSet:
    scenario: dict[str, Any] = {
        "name": "faults",
        "description": "5% transient faults and a 2 s outage 8 s into the load.",
        "sink": {
            "latency": "50ms",
            "faults": {"transient": 0.05, "permanent": 0.005, "drop": 0.0},
            "outages": [{"at": 8.0, "duration": 2.0}],
        },
        "consumer": {"workers": 10, "buffer": 100, "retries": 3},
        "load": {"rate": 50.0, "duration": 15.0, "warmup": 3.0},
        "sweep": {"mode": "zip", "consumer.retries": [0, 3]},
        "gates": ["lost == 0"],
    }
    second = faults_point(3, error="only 0 emails were received" if failed else None)
    result_set = ResultSet(
        scenario_name="faults",
        scenario=scenario,
        scenario_hash="a" * 64,
        environment=synthetic.environment(),
        points=(faults_point(0), second),
    )
    return result_set.as_partial("interrupted after 2 of 3 points") if partial else result_set


def with_params(result_set: ResultSet, params: list[dict[str, Any]]) -> ResultSet:
    """The same points under other settings (e.g. unrelated ones)."""
    points = tuple(
        dataclasses.replace(point, params=p)
        for point, p in zip(result_set.points, params, strict=True)
    )
    return dataclasses.replace(result_set, points=points)
