"""Synthetic, valid results for gate tests (built through the real result classes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from poolbench.results import (
    Environment,
    Latency,
    Memory,
    ParamValue,
    PointResult,
    ResultSet,
)

ENVIRONMENT = Environment(
    host="ci-runner",
    platform="Linux-6.1-x86_64",
    machine="Linux x86_64",
    cpu_model="AMD EPYC 7763 64-Core Processor",
    cpu_count=2,
    python="3.11.9",
    versions={"poolbench": "0.1.0", "confluent-kafka": "2.16.1", "librdkafka": "2.16.0"},
    git_commit="0" * 40,
    created_utc="2026-11-27T21:00:00Z",
)


def latency(p99: float, *, p50: float | None = None) -> Latency:
    mid = p99 * 0.8 if p50 is None else p50
    return Latency(avg=mid, p50=mid, p90=p99 * 0.9, p95=p99 * 0.95, p99=p99, p999=p99, max=p99)


def point(
    *,
    workers: int = 5,
    repeat: int = 0,
    throughput: float = 100.0,
    p99: float = 120.0,
    memory: float = 60.0,
    produced: int = 1000,
    lost: int = 0,
    duplicates: int = 0,
    params: Mapping[str, ParamValue] | None = None,
) -> PointResult:
    return PointResult(
        params={"consumer.workers": workers} if params is None else params,
        repeat=repeat,
        load_mode="saturate",
        throughput_per_s=throughput,
        ideal_throughput_per_s=workers * 25.0,
        latency_ms=latency(p99),
        memory_mb=Memory(peak=memory, mean=memory * 0.9),
        cpu_percent=40.0,
        # The same 40% of a core spread over the throughput: microseconds per email.
        cpu_us_per_email=1e4 * 40.0 / throughput if throughput > 0 else None,
        produced=produced,
        delivered=produced - lost,
        lost=lost,
        duplicates=duplicates,
    )


def result_set(
    points: Sequence[PointResult],
    *,
    scenario_hash: str = "abc123",
    environment: Environment = ENVIRONMENT,
    name: str = "quick",
) -> ResultSet:
    return ResultSet(
        scenario_name=name,
        scenario={"name": name, "repeats": 1},
        scenario_hash=scenario_hash,
        environment=environment,
        points=tuple(points),
    )


def with_env(**changes: Any) -> Environment:
    return dataclasses.replace(ENVIRONMENT, **changes)
