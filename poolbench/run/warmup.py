"""The adaptive warm-up during a point's load: when the consumers started and said ready,
and the sink's receipts fed to the steadiness tracker (`steady.WindowTracker`) as they
arrive. `point._load_phase` calls `watch_warmup` at every progress tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolbench.metrics.clock import stamp_ns
from poolbench.run.steady import WindowTracker
from poolbench.sink import SinkServer


@dataclass(slots=True, kw_only=True)
class StartUpClock:
    """When the consumers started and said ready (ours only), in CLOCK_MONOTONIC ns
    (`stamp_ns`, the receipts' clock); and the receipts fed to the warm-up's steadiness
    watch so far."""

    started_ns: int = 0
    ready_ns: int | None = None
    fed: int = 0


def watch_warmup(
    tracker: WindowTracker | None, sink: SinkServer, startup: StartUpClock, load_start_ns: int
) -> bool:
    """Feed the new receipts to the warm-up tracker; True when the load should stop."""
    if tracker is None:
        return False
    for receipt in sink.receipts_since(startup.fed):
        startup.fed += 1
        tracker.watch.add(receipt.received_ns, receipt.intended_ns)
    return tracker.tick(now_ns=stamp_ns(), load_start_ns=load_start_ns)
