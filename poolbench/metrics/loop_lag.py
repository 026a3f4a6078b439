"""How late an event loop runs a due callback: a cheap periodic timer measuring actual - due.

A single-threaded event loop serves every connection in turn; while one callback runs
(or a burst of ready ones), everything else that became due waits. `LoopLagProbe` puts
one timer on the loop every `interval_s` and records how late it ran, by the real
monotonic clock (the loop's own clock is cached per iteration on uvloop, which would
hide the lag). The same lateness applies to any reply, timer or stamp of that loop: for
the sink it bounds how late its stamps can be; for the consumer it is the time its
workers wait for their turn.

Samples go into a log-scale histogram (each bucket ~10% wide, 10 us to ~100 s), so the
probe's memory does not grow with time and histograms of several processes merge by
adding counts. Percentiles are read as their bucket's upper edge: never lower than the
truth, at most one bucket (10%) above. A timer that ran early (libuv may fire up to an
iteration early) counts in the lowest bucket and in `early`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_INTERVAL_S: Final = 0.01
FIRST_EDGE_S: Final = 1e-5
RATIO: Final = 1.1
MAX_BUCKET: Final = 170  # 10 us * 1.1**170 ~ 110 s
# Keys of the bucket counts in a flat {str: int} counters dict (the sink's).
COUNTER_PREFIX: Final = "loop_lag_b"


def bucket_of(lag_s: float) -> int:
    """The bucket holding a lag: 0 for <= 10 us (and early), i for (edge(i-1), edge(i)]."""
    if lag_s <= FIRST_EDGE_S:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log(lag_s / FIRST_EDGE_S) / math.log(RATIO) - 1e-9))


def upper_edge_s(bucket: int) -> float:
    return float(FIRST_EDGE_S * RATIO**bucket)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopLag:
    """A loop's lateness over some time: percentiles and max in ms (bucket upper edges)."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> LoopLag | None:
        """From bucket counts; None without samples."""
        total = sum(counts.values())
        if total <= 0:
            return None
        ordered = sorted((b, c) for b, c in counts.items() if c > 0)

        def quantile(q: float) -> float:
            rank = max(1, math.ceil(q * total))
            seen = 0
            for bucket, count in ordered:
                seen += count
                if seen >= rank:
                    return upper_edge_s(bucket) * 1000.0
            return upper_edge_s(ordered[-1][0]) * 1000.0

        return cls(
            samples=total,
            p50_ms=quantile(0.5),
            p99_ms=quantile(0.99),
            max_ms=upper_edge_s(ordered[-1][0]) * 1000.0,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "samples": self.samples,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, object]) -> LoopLag:
        return cls(
            samples=int(str(doc["samples"])),
            p50_ms=float(str(doc["p50_ms"])),
            p99_ms=float(str(doc["p99_ms"])),
            max_ms=float(str(doc["max_ms"])),
        )


def counts_to_counters(counts: Mapping[int, int]) -> dict[str, int]:
    """Bucket counts as flat counters (summed across processes, they merge)."""
    return {f"{COUNTER_PREFIX}{bucket}": count for bucket, count in counts.items()}


def counts_from_counters(counters: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """(bucket counts, the other counters) of a flat counters dict."""
    counts: dict[int, int] = {}
    rest: dict[str, int] = {}
    for key, value in counters.items():
        if key.startswith(COUNTER_PREFIX):
            counts[int(key[len(COUNTER_PREFIX) :])] = value
        else:
            rest[key] = value
    return counts, rest


class LoopLagProbe:
    """A periodic timer on one event loop recording how late it runs; loop thread only."""

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._clock = clock
        self.counts: dict[int, int] = {}
        self.early = 0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Start on the running loop (idempotent)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def summary(self) -> LoopLag | None:
        return LoopLag.from_counts(self.counts)

    def _schedule(self) -> None:
        assert self._loop is not None
        due = self._clock() + self.interval_s
        self._handle = self._loop.call_later(self.interval_s, self._tick, due)

    def _tick(self, due: float) -> None:
        lag = self._clock() - due
        if lag < 0:
            self.early += 1
        bucket = bucket_of(lag)
        counts = self.counts
        counts[bucket] = counts.get(bucket, 0) + 1
        self._schedule()
