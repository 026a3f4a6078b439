"""Synthetic result sets for report and CLI tests: a simple queueing model plus noise.

Throughput follows min(workers / latency, offered) with a little loss of efficiency;
latency grows when the pool is saturated. Seeded, so every test sees the same numbers.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import (
    Environment,
    Latency,
    Memory,
    PointResult,
    ResultSet,
    TimelineSample,
)

SINK_LATENCY_S = 0.1


def environment() -> Environment:
    return Environment(
        host="test-host",
        platform="Linux-test",
        machine="Linux x86_64",
        cpu_model="Test CPU",
        cpu_count=2,
        python="3.11.9",
        versions={"poolbench": "0.1.0", "confluent-kafka": "2.16.1", "librdkafka": "2.16.0"},
        git_commit="0" * 40,
        created_utc="2026-11-27T21:00:00Z",
    )


def point(
    rng: random.Random,
    params: dict[str, Any],
    *,
    workers: int,
    buffer: int,
    offered: float | None,
    repeat: int = 0,
    lost: int = 0,
    timeline_s: int = 0,
) -> PointResult:
    capacity = workers / SINK_LATENCY_S
    ideal = capacity if offered is None else min(capacity, offered)
    throughput = ideal * rng.uniform(0.88, 0.97)
    hist = LatencyHistogram()
    saturated = offered is None or offered >= capacity
    wait = buffer / capacity if saturated else 0.002
    for _ in range(300):
        hist.record_seconds(SINK_LATENCY_S + rng.expovariate(1 / max(wait, 0.001)))
    produced = int(throughput * 10) + lost
    timeline = tuple(
        TimelineSample(
            t_s=float(t),
            delivered_per_s=throughput * rng.uniform(0.9, 1.1),
            queue_depth=buffer * rng.uniform(0.5, 1.0) if saturated else rng.uniform(0, 3),
            p99_ms=hist.percentile_ms(99) * rng.uniform(0.9, 1.1),
            rss_mb=40 + workers * 0.05 + t * 0.1,
        )
        for t in range(timeline_s)
    )
    peak = 40 + workers * 0.05 + buffer * 0.01
    return PointResult(
        params=params,
        repeat=repeat,
        load_mode="saturate",
        throughput_per_s=throughput,
        ideal_throughput_per_s=ideal,
        latency_ms=Latency.from_mapping(hist.summary().as_dict()),
        memory_mb=Memory(peak=peak, mean=peak * 0.95),
        cpu_percent=min(100.0, throughput * 0.05),
        produced=produced,
        delivered=produced - lost,
        lost=lost,
        warnings=("sink CPU above 90%: the sink, not the consumer, set this number",)
        if workers >= 200
        else (),
        timeline=timeline,
        histogram=hist.encode(),
    )


def seed_table(*, repeats: int = 1, lost_at: int | None = None, seed: int = 7) -> ResultSet:
    """The seed's zip sweep: 1/10, 5/50, 10/100, 20/200, saturating."""
    rng = random.Random(seed)
    pairs = [(1, 10), (5, 50), (10, 100), (20, 200)]
    points = [
        point(
            rng,
            {"consumer.workers": w, "consumer.buffer": b},
            workers=w,
            buffer=b,
            offered=None,
            repeat=r,
            lost=3 if lost_at == i else 0,
            timeline_s=8,
        )
        for r in range(repeats)
        for i, (w, b) in enumerate(pairs)
    ]
    sweep = {
        "mode": "zip",
        "consumer.workers": [1, 5, 10, 20],
        "consumer.buffer": [10, 50, 100, 200],
    }
    return _set("seed-table", sweep, points, repeats)


def grid(*, seed: int = 3) -> ResultSet:
    """Workers x buffer at an offered 300/s."""
    rng = random.Random(seed)
    workers, buffers = [5, 10, 20, 40], [10, 100, 500]
    points = [
        point(rng, {"consumer.workers": w, "consumer.buffer": b}, workers=w, buffer=b, offered=300)
        for w, b in itertools.product(workers, buffers)
    ]
    sweep = {"mode": "grid", "consumer.workers": workers, "consumer.buffer": buffers}
    return _set("grid", sweep, points, 1)


def _set(name: str, sweep: dict[str, Any], points: list[PointResult], repeats: int) -> ResultSet:
    scenario = {
        "name": name,
        "description": f"Synthetic {name} results.",
        "consumer": {"workers": 10, "buffer": 100},
        "load": {"rate": "saturate", "duration": 10.0, "warmup": 2.0},
        "sweep": sweep,
        "repeats": repeats,
        "gates": ["lost == 0"],
    }
    return ResultSet(
        scenario_name=name,
        scenario=scenario,
        scenario_hash="a" * 64,
        environment=environment(),
        points=tuple(points),
    )
