"""Injected clocks, so that code that reads time can be tested exactly.

Latency across processes (load generator -> sink) uses wall-clock nanoseconds
(`time.time_ns`), which all processes on one machine share; durations inside one
process use the monotonic clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def wall_ns(self) -> int:
        """Nanoseconds since the epoch; comparable across processes on one host."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; for durations inside one process."""
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    def wall_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(slots=True)
class ManualClock:
    """A clock that moves only when told to; for tests."""

    now: float = 0.0
    epoch_ns: int = 1_700_000_000_000_000_000

    def wall_ns(self) -> int:
        return self.epoch_ns + round(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
