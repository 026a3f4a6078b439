"""When a point's steady state begins: the warm-up is extended until the consumer is steady.

A consumer that starts slowly (a JVM joining its group, a command that sleeps) builds a
backlog, then catches up at its full capacity: neither its start nor its catch-up is its
steady state. The steady-state window opens at the first check, at least `load.warmup`
into the load, where the last `STEADY_SPAN_S` seconds of receipts pass this rule:

1. both halves of the span delivered emails;
2. their delivered counts differ by at most `max(10%, 3/sqrt(n))` of the larger (n: the
   smaller count; 3 standard deviations of a Poisson count), so a catch-up at full
   capacity followed by the offered rate is not steady;
3. the backlog is not shrinking: the median end-to-end latency of the second half is not
   below the first half's by more than `max(10 ms, 20%)` (by Little's law the backlog is
   the delivered rate times the wait; a catch-up drains it, so its latency falls).

Without `intended_ns` on the receipts (a foreign consumer that copies no header), only
rules 1 and 2 apply. Pure: the runner feeds receipts as they arrive and asks at each
progress tick; tests feed synthetic ones.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from typing import Final

STEADY_SPAN_S: Final = 4.0
RATE_TOLERANCE: Final = 0.10
LATENCY_FALL_MS: Final = 10.0
LATENCY_FALL_SHARE: Final = 0.20
_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SteadyCheck:
    steady: bool
    reason: str  # what was not steady ("" when steady)


class SteadyWatch:
    """Receipts in arrival order; `check(now_ns)` applies the rule to the last span."""

    def __init__(self, span_s: float = STEADY_SPAN_S) -> None:
        self._span_ns = round(span_s * _NS)
        self._received: list[int] = []  # received_ns, sorted
        self._latency_ms: list[float | None] = []

    def add(self, received_ns: int, intended_ns: int | None) -> None:
        at = bisect.bisect_right(self._received, received_ns)
        latency = None if intended_ns is None else (received_ns - intended_ns) / 1e6
        self._received.insert(at, received_ns)
        self._latency_ms.insert(at, latency)

    @property
    def first_received_ns(self) -> int | None:
        return self._received[0] if self._received else None

    def _half(self, start_ns: int, end_ns: int) -> tuple[int, list[float]]:
        lo = bisect.bisect_left(self._received, start_ns)
        hi = bisect.bisect_left(self._received, end_ns)
        timed = [ms for ms in self._latency_ms[lo:hi] if ms is not None]
        return hi - lo, timed

    def check(self, now_ns: int) -> SteadyCheck:
        middle = now_ns - self._span_ns // 2
        first, first_ms = self._half(now_ns - self._span_ns, middle)
        second, second_ms = self._half(middle, now_ns)
        half_s = self._span_ns / 2 / _NS
        if not first or not second:
            return SteadyCheck(
                steady=False,
                reason=f"no email delivered in {'the first' if not first else 'the last'} "
                f"{half_s:g}s of the last {2 * half_s:g}s",
            )
        low, high = sorted((first, second))
        tolerance = max(RATE_TOLERANCE, 3 / math.sqrt(low))
        if (high - low) / high > tolerance:
            return SteadyCheck(
                steady=False,
                reason=f"delivered rate {first / half_s:.1f}/s then {second / half_s:.1f}/s "
                f"(more than {tolerance:.0%} apart)",
            )
        if first_ms and second_ms:
            before, after = statistics.median(first_ms), statistics.median(second_ms)
            if before - after > max(LATENCY_FALL_MS, LATENCY_FALL_SHARE * before):
                return SteadyCheck(
                    steady=False,
                    reason=f"the backlog was still draining: median latency fell from "
                    f"{before:.0f} ms to {after:.0f} ms",
                )
        return SteadyCheck(steady=True, reason="")


class WindowTracker:
    """Decides, tick by tick during the load, when the steady-state window opens and when
    the load can stop; times are injected (CLOCK_MONOTONIC ns, the sink's clock)."""

    def __init__(self, *, warmup_s: float, warmup_max_s: float, duration_s: float) -> None:
        self.watch = SteadyWatch()
        self._warmup_ns = round(warmup_s * _NS)
        self._warmup_max_ns = round(warmup_max_s * _NS)
        self._duration_ns = round(duration_s * _NS)
        self.window_start_ns: int | None = None
        self.never_steady: str | None = None  # why, once `load.warmup_max` passed
        self._last = SteadyCheck(steady=False, reason="not checked yet")

    @property
    def window_end_ns(self) -> int | None:
        start = self.window_start_ns
        return None if start is None else start + self._duration_ns

    def tick(self, *, now_ns: int, load_start_ns: int) -> bool:
        """True when the load should stop now: its window is complete, or it never got
        steady within `load.warmup_max`."""
        if self.never_steady is not None:
            return True
        end = self.window_end_ns
        if end is not None:
            return now_ns >= end
        elapsed = now_ns - load_start_ns
        if elapsed < self._warmup_ns:
            return False
        self._last = self.watch.check(now_ns)
        if self._last.steady:
            self.window_start_ns = now_ns
            return False
        if elapsed >= self._warmup_max_ns:
            self.never_steady = (
                f"never steady within load.warmup_max {self._warmup_max_ns / _NS:g}s: "
                f"{self._last.reason}"
            )
            return True
        return False
