"""A real Prometheus (Debian's server) scrapes a real `poolbench consume` through an SMTP
outage, evaluates the shipped rules (deploy/prometheus/), and the breaker alert fires
during the outage and clears after it; read back through Prometheus's HTTP API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.sink import Outage, SinkServer, parse_latency
from tests.consumer.e2e import background, event_value, new_ids, produce, topics, wait_until
from tests.deploy.live import (
    JOB,
    consume_process,
    fast_rules,
    free_port,
    poll,
    prometheus_server,
)
from tests.deploy.tools import need_tool

SinkFactory = Callable[..., SinkServer]
ALERT = "PoolbenchCircuitBreakerOpen"
OUTAGE = Outage(start=2.0, end=9.0)  # seconds after the sink starts: every send refused


@pytest.mark.slow
def test_prometheus_sees_the_breaker_alert_fire_in_an_smtp_outage_and_clear_after(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, tmp_path: Path
) -> None:
    need_tool("prometheus")
    source, dlq = topics(embedded_broker)
    smtp_port = free_port()  # the sink starts once Prometheus watches, on this port
    ids = new_ids(240)
    values = [(i, event_value(i)) for i in ids]
    with (
        consume_process(
            tmp_path,
            bootstrap=embedded_broker.bootstrap_servers,
            topic=source,
            dlq=dlq,
            smtp_port=smtp_port,
            extra=["--workers", "4", "--breaker-cooldown", "500ms"],
        ) as consumer,
        prometheus_server(
            tmp_path,
            targets=[f"127.0.0.1:{consumer.metrics_port}"],
            rules=fast_rules(tmp_path, "2s"),
            interval="1s",
        ) as prometheus,
    ):

        def scraped() -> bool:
            result = prometheus.api("query", query=f'up{{job="{JOB}"}}')["result"]
            return bool(result) and result[0]["value"][1] == "1"

        wait_until(scraped, 20, "Prometheus scraping the consumer")
        assert ALERT not in prometheus.alert_states()
        sink = sink_factory(port=smtp_port, latency=parse_latency("1ms"), outages=(OUTAGE,))
        sink_started = time.monotonic()
        fired_at = cleared_at = None
        seen: list[tuple[float, dict[str, str]]] = []
        with background(
            lambda: produce(embedded_broker.bootstrap_servers, source, values, rate=20)
        ):
            for _ in poll(45):
                states = prometheus.alert_states()
                now = time.monotonic() - sink_started
                seen.append((round(now, 1), states))
                if fired_at is None and states.get(ALERT) == "firing":
                    fired_at = now
                if fired_at is not None and ALERT not in states:
                    cleared_at = now
                    break
            assert fired_at is not None, f"{ALERT} never fired: {seen}"
            assert cleared_at is not None, f"{ALERT} never cleared: {seen}"
            wait_until(lambda: len(sink.receipts()) >= len(ids), 30, "every email delivered")
        dead = prometheus.api("query", query=f'poolbench_events_dead_lettered_total{{job="{JOB}"}}')
        opened = prometheus.api(
            "query", query=f'poolbench_circuit_breaker_opened_total{{job="{JOB}"}}'
        )
    # Fired only once the outage had begun and the alert's 2 s had passed; cleared only
    # after the outage ended.
    assert OUTAGE.start + 2.0 <= fired_at < cleared_at, seen
    assert cleared_at > OUTAGE.end, seen
    assert sink.counters().outage > 0
    assert {r.id for r in sink.receipts()} == set(ids)
    assert float(dead["result"][0]["value"][1]) == 0  # the outage filled no DLQ
    assert float(opened["result"][0]["value"][1]) >= 1
    assert consumer.process.returncode == 0, consumer.output()
