"""The clocks poolbench reads, in one place, and injected clocks for tests.

Stamps compared across processes (the load generator's intended and sent times, the
consumer's start stamp, the sink's receipt stamps, the run's window and timeline) come
from `stamp_ns`: CLOCK_MONOTONIC, which every process on one Linux host shares and which
a wall-clock step (NTP, an administrator) does not move. Wall time (`wall_ns`) is only a
date: for humans, and for putting the stamps of several hosts on one timeline, through a
(wall, monotonic) pair that a shard takes together at its start (`clock_pair`).

`tests/metrics/test_clock.py` checks that no other module reads `time.time_ns` or
`time.monotonic_ns`: a stamp taken elsewhere could be on another clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

# CLOCK_MONOTONIC in nanoseconds: `time.monotonic_ns` is clock_gettime(CLOCK_MONOTONIC)
# on Linux. Bound as is (not wrapped) because the sink and the load generator call it
# once per event.
stamp_ns: Final[Callable[[], int]] = time.monotonic_ns
# Nanoseconds since the epoch: a date, never a stamp to subtract from another process's.
wall_ns: Final[Callable[[], int]] = time.time_ns

# A stamp at or above this is a date (2001-09-09 onwards), not CLOCK_MONOTONIC, which
# counts from boot and would need 31 years of uptime to get here.
WALL_MAGNITUDE_NS: Final = 10**18


def on_wall_clock(ns: int) -> bool:
    """Whether a stamp is obviously wall time (ns since the epoch), not CLOCK_MONOTONIC."""
    return ns >= WALL_MAGNITUDE_NS


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockPair:
    """One wall reading and the CLOCK_MONOTONIC reading taken with it.

    `to_wall(stamp)` puts a monotonic stamp of the same host on the wall timeline (the
    wall clock as it read at the pair, so a later step of it does not move the stamp).
    """

    wall_ns: int
    monotonic_ns: int

    def to_wall(self, stamp: int) -> int:
        return stamp - self.monotonic_ns + self.wall_ns

    def to_monotonic(self, wall: int) -> int:
        return wall - self.wall_ns + self.monotonic_ns


def clock_pair() -> ClockPair:
    """A (wall, monotonic) pair read together: the monotonic reading is the middle of two
    around the wall one."""
    before = stamp_ns()
    wall = wall_ns()
    after = stamp_ns()
    return ClockPair(wall_ns=wall, monotonic_ns=(before + after) // 2)


class Clock(Protocol):
    def wall_ns(self) -> int:
        """Nanoseconds since the epoch: a date, not comparable across processes' stamps."""
        ...

    def stamp_ns(self) -> int:
        """CLOCK_MONOTONIC nanoseconds: comparable across processes on one host."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; for durations inside one process."""
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    def wall_ns(self) -> int:
        return wall_ns()

    def stamp_ns(self) -> int:
        return stamp_ns()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(slots=True)
class ManualClock:
    """A clock that moves only when told to; for tests. Its stamps are its monotonic
    time in ns; its wall time is `epoch_ns` later, and `step_wall` moves only the wall."""

    now: float = 0.0
    epoch_ns: int = 1_700_000_000_000_000_000

    def wall_ns(self) -> int:
        return self.epoch_ns + round(self.now * 1e9)

    def stamp_ns(self) -> int:
        return round(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps (an NTP step); monotonic time and stamps do not."""
        self.epoch_ns += round(seconds * 1e9)
