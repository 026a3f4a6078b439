"""The search's `measure` against the real parts: one runner point per setting.

A base scenario (a file, or one built from `--sink-latency`) fixes everything but the pool:
each probe overrides `consumer.workers`, `consumer.buffer` and the load's rate (the target's
open-model rate, or saturate), drops the sweep, and hands that one point to the runner.
Every point's full `PointResult` is kept, so the CLI can write them as a result set.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from poolbench.errors import ConfigError
from poolbench.results import PointResult
from poolbench.scenario import Consumer, Load, Scenario, Sink, Sweep, Topic
from poolbench.tune.probes import ProbeLoad, ProbeResult
from poolbench.units import format_duration, parse_duration

RunPoint = Callable[[Scenario], PointResult]


def base_scenario(
    *,
    rate: float,
    sink_latency: str = "100ms",
    duration_s: float = 10.0,
    warmup_s: float = 3.0,
    partitions: int = 8,
) -> Scenario:
    """The scenario `poolbench tune --sink-latency` measures against."""
    return Scenario(
        name="tune",
        description=(
            f"poolbench tune: {rate:g}/s against an SMTP server taking {sink_latency} per email"
        ),
        topic=Topic(partitions=partitions),
        sink=Sink(latency=sink_latency),
        consumer=Consumer(),
        load=Load(
            rate_per_s=rate, duration_s=duration_s, warmup_s=warmup_s, drain_s=10.0, cooldown_s=0.0
        ),
    )


def point_scenario(
    base: Scenario, workers: int, buffer: int, load: ProbeLoad, rate: float
) -> Scenario:
    """`base` with this probe's pool and load, and no sweep."""
    if base.consumer.foreign and base.consumer.instances != 1:
        raise ConfigError("tune sizes one consumer process: set consumer.instances to 1")
    return dataclasses.replace(
        base,
        consumer=dataclasses.replace(base.consumer, workers=workers, buffer=buffer),
        load=dataclasses.replace(
            base.load, rate_per_s=None if load is ProbeLoad.SATURATE else rate, profile=()
        ),
        sweep=Sweep(),
        repeats=1,
        gates=(),
    )


def latency_hint_s(latency: str) -> float | None:
    """The sink latency as seconds when it is a plain duration (a lower bound on send time)."""
    try:
        return parse_duration(latency, what="sink latency")
    except ConfigError:
        return None


def to_probe_result(result: PointResult) -> ProbeResult:
    """What the search needs from a runner point.

    A point that measured nothing (`result.error`) can only fail the target: it carries
    no throughput and an infinite p99, so no search step takes it for a pass.
    """
    memory = result.memory_mb
    return ProbeResult(
        throughput=result.throughput_per_s or 0.0,
        p99_ms=math.inf if result.latency_ms is None else result.latency_ms.p99,
        lost=result.lost,
        cpu_percent=result.cpu_percent or 0.0,
        memory_mb=math.nan if memory is None else memory.peak,
        send_ms=None if result.service_ms is None else result.service_ms.avg,
        # The runner's own verdict (machine or a harness part saturated) is the one source.
        harness_limited=result.harness_saturated,
    )


@dataclass(slots=True)
class RunnerMeasure:
    """`measure(workers, buffer, load)` for the search, keeping every runner result."""

    base: Scenario
    rate: float
    run_point: RunPoint
    results: list[PointResult] = field(default_factory=list)

    def __call__(self, workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        scenario = point_scenario(self.base, workers, buffer, load, self.rate)
        result = self.run_point(scenario)
        params = {
            "consumer.workers": workers,
            "consumer.buffer": buffer,
            "load.rate": "saturate" if load is ProbeLoad.SATURATE else self.rate,
            "probe": len(self.results),
        }
        self.results.append(dataclasses.replace(result, params=params, repeat=0))
        return to_probe_result(result)


def describe(base: Scenario) -> str:
    return (
        f"sink latency {base.sink.latency}, load {format_duration(base.load.duration_s)} "
        f"after {format_duration(base.load.warmup_s)} warm-up per point"
    )
