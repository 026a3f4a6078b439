"""The recommendation a search leads to. Pure; its markdown and JSON are in `writeup`.

The buffer advice follows from what a buffer does: it lets the consumer keep polling while
every worker is busy, so a burst of up to `buffer` emails is taken off Kafka without pausing;
and every email in it waits for a worker, so a full buffer adds up to buffer / throughput of
queueing delay. A buffer larger than the smallest one that met the target only adds delay.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from poolbench.consumer.settings import DEFAULTS, spec_for
from poolbench.tune.model import CapacityPoint, ModelFit, fit
from poolbench.tune.probes import Knee, Probe, ProbeLoad, SearchResult, StopReason, Target

SEED_LOW_RATE = 10.0  # the seed's guide: "< 10/sec: buffer = 50"
SEED_HIGH_RATE = 100.0  # "10-100/sec: 100-200", "> 100/sec: 500+"


def capacity_points(probes: Iterable[Probe], target: Target) -> list[CapacityPoint]:
    """Points that measure the pool's capacity: saturating loads, and target-rate points that
    fell short of the rate (the workers were the limit). Harness-limited points measure the
    sink or the load generator instead, so they are left out."""
    out = []
    for p in probes:
        m = p.measurement
        if m.harness_limited or m.throughput <= 0:
            continue
        if p.load is ProbeLoad.SATURATE or m.throughput < target.min_throughput:
            out.append(CapacityPoint(workers=p.workers, throughput=m.throughput))
    return out


def seed_buffer(rate: float) -> int:
    """The buffer the seed's tuning guide gives for a rate (the low end of its range)."""
    if rate < SEED_LOW_RATE:
        return 50
    if rate <= SEED_HIGH_RATE:
        return 100
    return 500


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferAdvice:
    buffer: int
    drain_per_s: float  # the rate a full buffer empties at: the measured ceiling, else the rate
    seed_buffer: int  # what the seed's guide says for this rate
    seed_needed: bool | None  # did it need a buffer as large as the seed's? None: not searched

    @property
    def burst_emails(self) -> int:
        """Emails arriving at once that are taken off Kafka without pausing the consumer."""
        return self.buffer

    @property
    def worst_delay_ms(self) -> float:
        """The queueing delay a full buffer adds to the last email in it."""
        return 1000.0 * self.buffer / self.drain_per_s

    @property
    def seed_worst_delay_ms(self) -> float:
        return 1000.0 * self.seed_buffer / self.drain_per_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    target: Target
    workers: int | None
    buffer: int | None
    confirmed: bool
    at_setting: Probe | None  # the target-rate measurement of the setting
    ceiling: Probe | None  # the setting under a saturating load
    knee: Knee | None
    buffer_advice: BufferAdvice | None
    model: ModelFit
    stop: StopReason
    probes: tuple[Probe, ...]
    elapsed_s: float
    error: str | None = None
    headroom_met: bool = False
    # The consumer settings every point ran with (settings fields), besides the pool: the
    # recommendation repeats them, so it names the configuration that was measured.
    consumer: Mapping[str, object] = field(default_factory=dict)

    @property
    def headroom(self) -> float | None:
        """Measured ceiling over the target rate, minus one (0.25 = 25% spare)."""
        if self.ceiling is None:
            return None
        return self.ceiling.measurement.throughput / self.target.rate - 1

    def workers_for_headroom(self, headroom: float) -> int | None:
        """Workers for `headroom` over the target, scaling the measured ceiling linearly."""
        if self.ceiling is None or self.workers is None:
            return None
        ceiling = self.ceiling.measurement.throughput
        if ceiling <= 0:
            return None
        return math.ceil(self.workers * self.target.rate * (1 + headroom) / ceiling)

    def _setting(self) -> dict[str, object]:
        """What was measured: the pool, the connection mode always (the consumer's default
        may differ from the measured one), and every other setting off its default."""
        if self.workers is None or self.buffer is None:
            return {}
        setting: dict[str, object] = {"workers": self.workers, "buffer": self.buffer}
        reuse = self.consumer.get("connection_reuse", DEFAULTS.connection_reuse)
        setting["connection_reuse"] = reuse
        for name, value in self.consumer.items():
            if name not in setting and value != getattr(DEFAULTS, name, value):
                setting[name] = value
        return setting

    @property
    def env(self) -> dict[str, str]:
        """The setting as the consumer's variables (names from its settings table)."""
        return {
            spec_for(name).env: spec_for(name).text(value)
            for name, value in self._setting().items()
        }

    @property
    def flags(self) -> str:
        """The setting as `poolbench consume` flags (from the same table)."""
        return " ".join(
            f"{spec_for(name).flag} {shlex.quote(spec_for(name).text(value))}"
            for name, value in self._setting().items()
        )

    @property
    def command(self) -> str:
        """The exact command that runs the measured configuration."""
        return f"poolbench consume {self.flags}" if self._setting() else ""


def recommend(
    result: SearchResult, *, consumer: Mapping[str, object] | None = None
) -> Recommendation:
    at, ceiling = result.at_setting, result.ceiling
    advice = None
    if result.buffer is not None and at is not None:
        drain = ceiling.measurement.throughput if ceiling is not None else result.target.rate
        seed = seed_buffer(result.target.rate)
        advice = BufferAdvice(
            buffer=result.buffer,
            drain_per_s=max(drain, 1e-9),
            seed_buffer=seed,
            seed_needed=result.buffer >= seed if result.buffer_searched else None,
        )
    knee_workers = result.knee.workers if result.knee is not None and result.knee.reached else None
    model = fit(capacity_points(result.probes, result.target), knee_workers=knee_workers)
    return Recommendation(
        target=result.target,
        workers=result.workers,
        buffer=result.buffer,
        confirmed=result.confirmed,
        at_setting=at,
        ceiling=ceiling,
        knee=result.knee,
        buffer_advice=advice,
        model=model,
        stop=result.stop,
        probes=result.probes,
        elapsed_s=result.elapsed_s,
        error=result.error,
        headroom_met=result.headroom_met,
        consumer=dict(consumer or {}),
    )
