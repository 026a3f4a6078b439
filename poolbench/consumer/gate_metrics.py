"""The start gate's counts on the consumer's Prometheus endpoint (kept apart from
metrics.py, like lag_metrics.py).

`poolbench_start_gate_waited_total`: new emails that waited for a later event-loop pass;
`poolbench_start_gate_passes_total`: passes that began with starts let through in the
pass before. Their ratio is how many starts a burst was spread over; a gate that never
holds anything back (waited 0 under load) does not break convoys. Read at scrape time in
the HTTP thread: two integers the loop thread only increments. Before `run()` (no gate
yet) and with `starts_per_pass` 0 (no gate at all) the counters read 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily

from poolbench.consumer.start_gate import StartGate


class _GateCollector:
    def __init__(self, gate: Callable[[], StartGate | None]) -> None:
        self._gate = gate

    def collect(self) -> Iterator[Any]:
        gate = self._gate()
        yield CounterMetricFamily(
            "poolbench_start_gate_waited",
            "New emails that waited for a later event-loop pass (consumer/start_gate.py).",
            value=0 if gate is None else gate.waited,
        )
        yield CounterMetricFamily(
            "poolbench_start_gate_passes",
            "Event-loop passes that began with starts let through in the pass before.",
            value=0 if gate is None else gate.passes,
        )


def register_start_gate(registry: CollectorRegistry, gate: Callable[[], StartGate | None]) -> None:
    registry.register(_GateCollector(gate))
