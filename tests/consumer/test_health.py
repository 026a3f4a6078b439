"""/healthz and /readyz: the verdicts on a manual clock, then over HTTP from a real
consumer (embedded broker, SMTP sink over TCP) whose loop stalls and whose SMTP server
goes down."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.consumer.health import Health
from poolbench.consumer.metrics import ConsumerMetrics, LiveCounters
from poolbench.metrics.clock import ManualClock
from poolbench.sink import Outage, SinkServer, parse_latency
from tests.consumer.e2e import (
    ServiceThread,
    event_value,
    new_ids,
    produce,
    settings_for,
    topics,
    wait_until,
)

SinkFactory = Callable[..., SinkServer]


def _health(clock: ManualClock) -> Health:
    return Health(stall_s=10.0, breaker_limit_s=300.0, clock=clock)


def test_the_loop_is_alive_while_it_beats() -> None:
    clock = ManualClock()
    health = _health(clock)
    clock.advance(9.0)
    assert health.live().ok  # the start counts as a beat: connecting takes a while
    clock.advance(2.0)
    verdict = health.live()
    assert not verdict.ok
    assert "no heartbeat for 11.0s" in verdict.reason
    health.beat(partitions=1, breaker_closed=True)
    assert health.live().ok
    assert health.ready().ok


def test_ready_needs_partitions_a_breaker_not_stuck_open_and_no_shutdown() -> None:
    clock = ManualClock()
    health = _health(clock)
    health.beat(partitions=0, breaker_closed=True)
    assert health.ready().reason == "no partitions assigned"
    health.beat(partitions=4, breaker_closed=False)
    for _ in range(299):
        clock.advance(1.0)
        health.beat(partitions=4, breaker_closed=False)  # open, half-open, open again
    assert health.ready().ok
    clock.advance(2.0)
    health.beat(partitions=4, breaker_closed=False)
    verdict = health.ready()
    assert not verdict.ok
    assert "circuit breaker not closed for 301s" in verdict.reason
    health.beat(partitions=4, breaker_closed=True)
    assert health.ready().ok
    health.beat(partitions=4, breaker_closed=True, stopping=True)
    assert health.ready().reason == "shutting down"
    clock.advance(11.0)
    assert "stalled" in health.ready().reason  # a dead loop is not ready either


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_probes_share_the_metrics_port() -> None:
    clock = ManualClock()
    health = _health(clock)
    metrics = ConsumerMetrics(LiveCounters())
    port = metrics.serve(0, "127.0.0.1", health)
    try:
        assert _get(port, "/healthz") == (200, "ok: event loop alive (heartbeat 0.0s ago)\n")
        assert _get(port, "/readyz") == (503, "failing: no partitions assigned\n")
        health.beat(partitions=2, breaker_closed=True)
        assert _get(port, "/readyz") == (200, "ok: 2 partition(s) assigned\n")
        clock.advance(60.0)
        status, body = _get(port, "/healthz")
        assert status == 503
        assert body.startswith("failing: event loop stalled")
        status, body = _get(port, "/metrics")
        assert status == 200
        assert "poolbench_emails_sent_total 0.0" in body
    finally:
        metrics.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stalled_event_loop_fails_healthz_until_it_runs_again(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    source, dlq = topics(embedded_broker)
    sink = sink_factory()
    port = _free_port()
    settings = settings_for(
        embedded_broker, sink, source, dlq, metrics_port=port, health_stall_s=0.5
    )
    with ServiceThread(settings) as running:
        wait_until(lambda: _get(port, "/readyz")[0] == 200, 10, "ready")
        assert _get(port, "/healthz")[0] == 200
        loop = running.service_loop()
        loop.call_soon_threadsafe(time.sleep, 3.0)  # blocks the consumer's event loop
        wait_until(lambda: _get(port, "/healthz")[0] == 503, 3, "/healthz failing")
        assert _get(port, "/readyz")[0] == 503
        wait_until(lambda: _get(port, "/healthz")[0] == 200, 10, "/healthz passing again")


@pytest.mark.slow
def test_an_smtp_outage_makes_the_consumer_unready_until_the_breaker_closes(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 30
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    # Rejected from the sink's start for 8 s: the breaker opens on the first sends.
    sink = sink_factory(latency=parse_latency("1ms"), outages=(Outage(start=0.0, end=8.0),))
    port = _free_port()
    settings = settings_for(
        embedded_broker, sink, source, dlq, metrics_port=port, breaker_unready_s=1.0
    )
    seen: list[tuple[int, str]] = []

    def readiness(expected: int, reason: str) -> bool:
        seen.append(_get(port, "/readyz"))
        return seen[-1][0] == expected and reason in seen[-1][1]

    with ServiceThread(settings) as running:
        produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
        wait_until(
            lambda: readiness(503, "circuit breaker not closed"), 10, "/readyz failing: breaker"
        )
        assert _get(port, "/healthz")[0] == 200  # alive all along: only not ready
        wait_until(lambda: readiness(200, "assigned"), 20, "/readyz passing after the outage")
        wait_until(lambda: running.service.finished >= count, 20, "every event finished")
    counters = running.stop()
    assert sink.counters().outage > 0
    assert counters.breaker_opened >= 1
    assert counters.sent == count
