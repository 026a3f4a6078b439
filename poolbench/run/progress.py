"""A point's live progress: what a progress display is shown while the point runs.

`point.run_point` reports it at every phase and every `PROGRESS_INTERVAL_S` of the load
and drain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from poolbench.metrics.histogram import LatencyHistogram
from poolbench.run.plan import PointPlan
from poolbench.run.sampler import Sampler
from poolbench.sink import SinkServer


@dataclass(frozen=True, slots=True, kw_only=True)
class PointProgress:
    """A live view of the point being measured, for progress displays."""

    label: str
    phase: str  # "starting", "load", "drain", "stopping"
    elapsed_s: float  # since the load started (0 before)
    total_s: float  # warm-up + measured duration
    produced: int
    delivered: int
    rate_per_s: float  # delivered per second over the last progress interval
    p99_ms: float | None  # so far, end to end; None before the first receipt
    rss_mb: float | None  # consumer RSS, latest sample


class Progress:
    """Reports progress; keeps a live p99 from the receipts that arrived since last time."""

    def __init__(
        self, plan: PointPlan, on_progress: Callable[[PointProgress], None] | None
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.hist = LatencyHistogram()
        self.seen = 0
        self.last_count = 0
        self.last_t = time.monotonic()
        self.load_started: float | None = None

    def report(
        self,
        phase: str,
        *,
        sink: SinkServer | None = None,
        sampler: Sampler | None = None,
        produced: int = 0,
    ) -> int:
        """Report; returns the distinct emails delivered so far (0 without a sink)."""
        delivered = 0
        p99: float | None = None
        rate = 0.0
        if sink is not None:
            counters = sink.counters()
            delivered = counters.received - counters.duplicates
            for r in sink.receipts_since(self.seen):
                self.seen += 1
                if r.intended_ns is not None:
                    self.hist.record_ns(r.received_ns - r.intended_ns)
            p99 = self.hist.percentile_ms(99.0) if self.hist.count else None
            now = time.monotonic()
            rate = (delivered - self.last_count) / max(1e-9, now - self.last_t)
            self.last_count, self.last_t = delivered, now
        if self.on_progress is not None:
            latest = sampler.latest("consumer") if sampler is not None else None
            started = self.load_started
            self.on_progress(
                PointProgress(
                    label=self.plan.label,
                    phase=phase,
                    elapsed_s=0.0 if started is None else time.monotonic() - started,
                    total_s=self.plan.total_s,
                    produced=produced,
                    delivered=delivered,
                    rate_per_s=rate,
                    p99_ms=p99,
                    rss_mb=None if latest is None else latest.rss_bytes / 1e6,
                )
            )
        return delivered
