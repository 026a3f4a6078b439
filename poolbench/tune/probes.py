"""What the sizing search works with: its target and limits, each probe, and its result.

The search itself (the driver and its phases) is `search.py`; the models, the advice and
the write-up read these types without depending on it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

from poolbench.errors import ConfigError


class ProbeLoad(enum.Enum):
    """What load a point runs: the target's open-model rate, or as fast as possible."""

    TARGET = "target"
    SATURATE = "saturate"


class Phase(enum.Enum):
    WORKERS = "workers"
    BUFFER = "buffer"
    CONFIRM = "confirm"
    CEILING = "ceiling"
    KNEE = "knee"


class StopReason(enum.Enum):
    DONE = "done"
    # The search finished its phases, but the knee was not found within its limits.
    KNEE_LIMIT = "the knee search used its points before throughput flattened"
    MAX_WORKERS = "--max-workers reached before throughput flattened"
    POINT_BUDGET = "point budget used up"
    TIME_BUDGET = "time budget used up"
    INTERRUPTED = "interrupted"
    UNREACHABLE = "target not reachable"
    UNCONFIRMED = "the chosen setting failed when measured again"
    NO_HEADROOM = "no setting measured had the headroom asked for"
    FAILED = "a point could not be measured"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What one measured point says about a setting."""

    throughput: float  # emails per second delivered in the steady-state window
    p99_ms: float  # end-to-end, intended send time to sink receipt
    lost: int
    cpu_percent: float  # the consumer process, percent of one core
    memory_mb: float  # the consumer process, peak RSS
    send_ms: float | None = None  # mean time a worker spends on one email, when measured
    harness_limited: bool = False  # the sink or load generator saturated, not the consumer


class Measure(Protocol):
    def __call__(self, workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    rate: float  # emails per second to sustain
    p99_ms: float  # end-to-end p99 not to exceed
    rate_tolerance: float = 0.05  # a point sustains the rate at >= (1 - this) x rate
    # A point must beat the p99 by this share: one short point's p99 is noisy, and the
    # smallest setting that only just passes fails about every other re-run.
    p99_margin: float = 0.0
    # The recommended setting's measured ceiling must exceed the rate by this share: a
    # setting running at its ceiling has no room for a burst or a slower day.
    headroom: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.p99_ms <= 0:
            raise ConfigError("target rate and p99 must be positive")
        if not 0 <= self.rate_tolerance < 1:
            raise ConfigError("rate tolerance must be in [0, 1)")
        if not 0 <= self.p99_margin < 1:
            raise ConfigError("p99 margin must be in [0, 1)")
        if self.headroom < 0:
            raise ConfigError("headroom must not be negative")

    @property
    def min_ceiling(self) -> float:
        """The throughput the recommended setting must reach under a saturating load."""
        return self.rate * (1 + self.headroom)

    @property
    def min_throughput(self) -> float:
        return self.rate * (1 - self.rate_tolerance)

    @property
    def max_p99_ms(self) -> float:
        return self.p99_ms * (1 - self.p99_margin)

    def failures(self, m: ProbeResult) -> list[str]:
        """Why a measurement misses the target; empty when it meets it."""
        why = []
        if m.throughput < self.min_throughput:
            why.append(f"throughput {m.throughput:.1f}/s < {self.min_throughput:.1f}/s")
        if m.p99_ms > self.max_p99_ms:
            why.append(f"p99 {m.p99_ms:.0f} ms > {self.max_p99_ms:.0f} ms")
        if m.lost > 0:
            why.append(f"{m.lost} lost")
        return why


def impossible(target: Target, *, send_s: float | None, max_workers: int) -> ConfigError | None:
    """Why `target` cannot be met whatever the pool, before measuring anything; or None.

    `send_s` is a lower bound on one email's send time (the sink's fixed latency): no
    email arrives sooner, so a p99 at or below it is out of reach, and carrying the rate
    needs at least rate x send time workers.
    """
    if send_s is None or send_s <= 0:
        return None
    send_ms = 1000 * send_s
    if target.max_p99_ms <= send_ms:
        margin = f" less the {100 * target.p99_margin:g}% margin" if target.p99_margin else ""
        return ConfigError(
            f"p99 {target.p99_ms:g} ms{margin} ({target.max_p99_ms:g} ms) is not above the "
            f"sink's latency of {send_ms:g} ms: no email can arrive sooner",
            what="p99",
            got=f"{target.p99_ms:g}ms",
        )
    needed = math.ceil(target.min_ceiling * send_s - 1e-9)
    if needed > max_workers:
        return ConfigError(
            f"{target.rate:g}/s with {100 * target.headroom:g}% headroom at {send_ms:g} ms per "
            f"email needs at least {needed} workers, more than the largest allowed "
            f"({max_workers})",
            what="max_workers",
            got=max_workers,
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchLimits:
    max_workers: int = 2000
    max_points: int = 12
    max_time_s: float = 600.0
    send_s_hint: float | None = None  # a lower bound on the mean send time (the sink latency)
    first_guess: int = 10  # without a hint: the seed's "start with 10"
    headroom: float = 1.1  # Little's-law guesses aim at this capacity over the rate
    precision: float = 0.05  # a bracket is closed when hi - lo <= max(1, precision x hi)
    search_buffer: int | None = None  # buffer while searching workers; None: max(100, 2 x w)
    min_buffer: int | None = None  # smallest buffer tried; None: the worker count
    max_buffer_points: int = 3
    max_knee_points: int = 4
    max_headroom_steps: int = 3
    confirm: bool = True
    cpu_saturated_percent: float = 90.0
    flat_efficiency: float = 0.25  # more workers "help" if they gain this share of linear

    def __post_init__(self) -> None:
        if self.max_workers < 1 or self.max_points < 1 or self.max_time_s <= 0:
            raise ConfigError("max workers, max points and max time must be positive")
        if self.send_s_hint is not None and self.send_s_hint < 0:
            raise ConfigError("send time hint must not be negative")
        if self.headroom < 1 or not 0 < self.precision < 1:
            raise ConfigError("headroom must be >= 1 and precision in (0, 1)")

    def step(self, workers: int) -> int:
        """The resolution of the worker search around `workers`."""
        return max(1, math.floor(self.precision * workers))

    def buffer_for_search(self, workers: int) -> int:
        return self.search_buffer if self.search_buffer is not None else max(100, 2 * workers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    index: int
    phase: Phase
    workers: int
    buffer: int
    load: ProbeLoad
    measurement: ProbeResult
    failures: tuple[str, ...]  # against the target; empty for saturating points
    started_s: float  # since the search began
    duration_s: float

    @property
    def meets(self) -> bool:
        return self.load is ProbeLoad.TARGET and not self.failures

    @property
    def number(self) -> int:
        """1-based: how the terminal, tune.md and tune.json all number the points."""
        return self.index + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Knee:
    workers: int  # the last count where adding workers still paid, or where CPU saturated
    throughput: float
    reached: bool  # False: not seen within the counts measured
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    target: Target
    limits: SearchLimits
    probes: tuple[Probe, ...]
    workers: int | None  # the smallest count found meeting the target
    buffer: int | None
    confirmed: bool  # the chosen setting met the target again when re-measured
    buffer_searched: bool  # False: the buffer is the worker search's, not the smallest
    headroom_met: bool = False  # the setting's ceiling reached the target's headroom
    knee: Knee | None
    stop: StopReason
    elapsed_s: float
    error: str | None = None  # with StopReason.FAILED: what failed

    @property
    def at_setting(self) -> Probe | None:
        """The latest target-load probe of the chosen setting."""
        return _latest(self.probes, self.workers, self.buffer, ProbeLoad.TARGET)

    @property
    def ceiling(self) -> Probe | None:
        """The chosen setting under a saturating load."""
        return _latest(self.probes, self.workers, self.buffer, ProbeLoad.SATURATE)


def _latest(
    probes: tuple[Probe, ...], workers: int | None, buffer: int | None, load: ProbeLoad
) -> Probe | None:
    hits = [p for p in probes if (p.workers, p.buffer, p.load) == (workers, buffer, load)]
    return hits[-1] if hits else None
