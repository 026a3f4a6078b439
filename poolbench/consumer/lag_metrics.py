"""The consumer's event-loop lag on its Prometheus endpoint (kept apart from metrics.py).

`poolbench_loop_lag_p50_seconds`, `..._p99_seconds` and `..._max_seconds` (since start,
bucket upper edges: see `poolbench.metrics.loop_lag`) and `poolbench_loop_lag_samples`.
Three gauges, not one with a `quantile` label: Prometheus keeps that label for summaries
(`promtool check metrics` refuses it on a gauge), and the probe has no exact sum to be
one. The probe is read at scrape time, in the HTTP thread: a copy of its small dict, no
lock needed (the loop thread only adds keys and bumps counts).
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
        for name, words, field in (
            ("p50", "median", "p50_ms"),
            ("p99", "99th percentile of", "p99_ms"),
            ("max", "largest", "max_ms"),
        ):
            gauge = GaugeMetricFamily(
                f"poolbench_loop_lag_{name}_seconds",
                f"The {words} delay of a due callback on the event loop, since start.",
            )
            if lag is not None:
                gauge.add_metric([], float(getattr(lag, field)) / 1000.0)
            yield gauge
        yield CounterMetricFamily(
            "poolbench_loop_lag_samples",
            "Loop-lag probe samples taken.",
            value=0 if lag is None else lag.samples,
        )


def register_loop_lag(registry: CollectorRegistry, probe: LoopLagProbe) -> None:
    registry.register(_LagCollector(probe))
