"""The consumer's event-loop lag on its Prometheus endpoint (kept apart from metrics.py).

`poolbench_loop_lag_seconds{quantile="0.5"|"0.99"|"1"}` (since start, bucket upper
edges: see `poolbench.metrics.loop_lag`) and `poolbench_loop_lag_samples`. The probe is
read at scrape time, in the HTTP thread: a copy of its small dict, no lock needed (the
loop thread only adds keys and bumps counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from poolbench.metrics.loop_lag import LoopLag, LoopLagProbe


class _LagCollector:
    def __init__(self, probe: LoopLagProbe) -> None:
        self._probe = probe

    def collect(self) -> Iterator[Any]:
        lag = LoopLag.from_counts(dict(self._probe.counts))
        gauge = GaugeMetricFamily(
            "poolbench_loop_lag_seconds",
            "How late the event loop ran a due callback, since start (quantile 1: max).",
            labels=["quantile"],
        )
        if lag is not None:
            for quantile, ms in (("0.5", lag.p50_ms), ("0.99", lag.p99_ms), ("1", lag.max_ms)):
                gauge.add_metric([quantile], ms / 1000.0)
        yield gauge
        yield CounterMetricFamily(
            "poolbench_loop_lag_samples",
            "Loop-lag probe samples taken.",
            value=0 if lag is None else lag.samples,
        )


def register_loop_lag(registry: CollectorRegistry, probe: LoopLagProbe) -> None:
    registry.register(_LagCollector(probe))
