"""The consumer's counters, its Prometheus endpoint and its one-line exit summary.

The per-email path only bumps plain integers on `LiveCounters` (in the event loop
thread); Prometheus reads them at scrape time through a custom collector, so counting
costs nothing when nobody scrapes. Gauges (queue length, busy workers, lag, breaker
state) are refreshed by the service's housekeeping tick into `GaugeValues`, an immutable
object swapped in whole, which the HTTP thread can read without locks.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

from poolbench.consumer.health import Health, with_probes

# Send latency buckets (seconds): from a local sink's 1 ms to a slow relay's 10 s.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# End to end (the event's Kafka timestamp to the send's end) and the wait in the pool's
# queue: from a few milliseconds to a backlog of minutes.
JOURNEY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}
# Why a send attempt failed: an SMTP reply class, a timeout, a refused connection, or
# anything else (a dropped connection, TLS).
FAILURE_CLASSES = ("4xx", "5xx", "timeout", "refused", "other")


@dataclass(slots=True)
class LiveCounters:
    """Mutable counts, written only from the consumer's event loop thread."""

    consumed: int = 0
    sent: int = 0
    failed: int = 0  # send attempts that failed (transient or permanent)
    retried: int = 0  # attempts after the first
    # Emails that failed for good: refused permanently or out of retries (dead-lettered).
    undeliverable: int = 0
    dead_lettered: int = 0
    invalid: int = 0  # malformed events (also counted in dead_lettered)
    dropped_on_revoke: int = 0  # queued jobs of revoked partitions, left for the new owner
    breaker_opened: int = 0
    # Failed attempts by class (FAILURE_CLASSES); written on the failure path only.
    failures_by_class: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(FAILURE_CLASSES, 0)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GaugeValues:
    queue_length: int = 0
    overflow: int = 0
    busy_workers: int = 0
    workers: int = 0
    queue_capacity: int = 0
    consumer_lag: int = 0
    breaker_state: str = "closed"
    assigned_partitions: int = 0
    paused: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerCounters:
    """A snapshot of what happened to every consumed event.

    `consumed == sent + dead_lettered + left_uncommitted` always holds: an event that is
    neither sent nor dead-lettered stays uncommitted and is redelivered. Events finished
    after an unfinished one (`finished_uncommitted`) are redelivered too, as duplicates.
    """

    consumed: int
    sent: int
    failed: int  # failed send attempts
    retried: int
    dead_lettered: int
    invalid: int
    left_uncommitted: int
    undeliverable: int = 0  # emails that failed for good (also in dead_lettered)
    finished_uncommitted: int = 0
    dropped_on_revoke: int = 0
    breaker_opened: int = 0
    elapsed_s: float = 0.0
    # Time with events in flight: the rate over uptime would count idle waiting for
    # events (19.5/s where the consumer really sent 100/s).
    active_s: float = 0.0
    timed_out: bool = False
    # The event loop's lag over the consumer's life (poolbench.metrics.loop_lag.LoopLag).
    loop_lag: dict[str, float | int] | None = None

    @property
    def emails_per_s(self) -> float:
        """Emails sent per second of active time."""
        return self.sent / self.active_s if self.active_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["emails_per_s"] = round(self.emails_per_s, 3)
        return doc

    def summary_line(self) -> str:
        line = (
            f"consumed {self.consumed}, sent {self.sent}, dead-lettered {self.dead_lettered} "
            f"({self.invalid} invalid, {self.undeliverable} undeliverable), "
            f"retried {self.retried}, failed attempts {self.failed}, "
            f"left for redelivery {self.left_uncommitted}"
        )
        if self.finished_uncommitted:
            line += f" (+{self.finished_uncommitted} finished but uncommitted)"
        line += (
            f"; {self.emails_per_s:.1f} emails/s over {self.active_s:.1f}s active "
            f"({self.elapsed_s:.1f}s up)"
        )
        if self.timed_out:
            line += "; shutdown timed out"
        return line


def snapshot(
    live: LiveCounters,
    *,
    finished_uncommitted: int = 0,
    elapsed_s: float = 0.0,
    active_s: float | None = None,
    timed_out: bool = False,
) -> ConsumerCounters:
    return ConsumerCounters(
        consumed=live.consumed,
        sent=live.sent,
        failed=live.failed,
        retried=live.retried,
        dead_lettered=live.dead_lettered,
        invalid=live.invalid,
        left_uncommitted=live.consumed - live.sent - live.dead_lettered,
        undeliverable=live.undeliverable,
        finished_uncommitted=finished_uncommitted,
        dropped_on_revoke=live.dropped_on_revoke,
        breaker_opened=live.breaker_opened,
        elapsed_s=elapsed_s,
        active_s=elapsed_s if active_s is None else active_s,
        timed_out=timed_out,
    )


class ConsumerMetrics:
    """Prometheus metrics of one consumer, in their own registry (no global state)."""

    def __init__(self, counters: LiveCounters) -> None:
        self.counters = counters
        self.gauges = GaugeValues()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Collector(self))
        self.send_latency = Histogram(
            "poolbench_send_latency_seconds",
            "Time of one SMTP send attempt, successful or not.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.end_to_end = Histogram(
            "poolbench_end_to_end_seconds",
            "From the event's Kafka timestamp to its email's acceptance by the SMTP server.",
            buckets=JOURNEY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "poolbench_queue_wait_seconds",
            "Time a job waited in the pool's queue for a worker.",
            buckets=JOURNEY_BUCKETS,
            registry=self.registry,
        )
        # process_resident_memory_bytes, process_cpu_seconds_total, open fds, ...
        ProcessCollector(registry=self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, port: int, addr: str = "127.0.0.1", health: Health | None = None) -> int:
        """Start the HTTP endpoint in a daemon thread; returns the real port (0 picks one).

        With `health`, `/healthz` and `/readyz` are answered too (health.py)."""
        app = make_wsgi_app(self.registry)
        if health is not None:
            app = with_probes(health, app)

        class Server(ThreadingWSGIServer):
            pass

        # IPv4 or IPv6 as the address asks, as prometheus_client's own start_http_server.
        info = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        Server.address_family = info[0][0]
        server = make_server(str(info[0][4][0]), port, app, Server, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Collector:
    def __init__(self, metrics: ConsumerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        c = self._metrics.counters
        for name, value, text in (
            ("poolbench_events_consumed", c.consumed, "Events read from Kafka."),
            ("poolbench_emails_sent", c.sent, "Emails accepted by the SMTP server."),
            (
                "poolbench_emails_undeliverable",
                c.undeliverable,
                "Emails that failed for good: refused permanently or out of retries "
                "(each is also dead-lettered).",
            ),
            ("poolbench_send_retries", c.retried, "SMTP send attempts after an email's first."),
            (
                "poolbench_events_dead_lettered",
                c.dead_lettered,
                "Events written to the dead-letter topic: undeliverable emails and invalid events.",
            ),
            ("poolbench_events_invalid", c.invalid, "Malformed events (dead-lettered)."),
            (
                "poolbench_circuit_breaker_opened",
                c.breaker_opened,
                "Times the circuit breaker opened.",
            ),
        ):
            yield CounterMetricFamily(name, text, value=value)
        g = self._metrics.gauges
        for name, number, text in (
            ("poolbench_queue_length", g.queue_length, "Jobs waiting in the pool's queue."),
            ("poolbench_overflow_length", g.overflow, "Fetched events waiting for room."),
            ("poolbench_busy_workers", g.busy_workers, "Workers running a job."),
            ("poolbench_workers", g.workers, "Workers in the pool."),
            ("poolbench_queue_capacity", g.queue_capacity, "Slots of the pool's queue."),
            ("poolbench_consumer_lag", g.consumer_lag, "Messages behind the high watermark."),
            ("poolbench_assigned_partitions", g.assigned_partitions, "Partitions assigned."),
            ("poolbench_consumption_paused", int(g.paused), "1 while fetching is paused."),
        ):
            yield GaugeMetricFamily(name, text, value=number)
        breaker = GaugeMetricFamily(
            "poolbench_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            value=BREAKER_STATE_VALUES.get(g.breaker_state, 0),
        )
        yield breaker
        # Attempts, not emails: one email retried through an outage fails many times.
        failures = CounterMetricFamily(
            "poolbench_send_attempts_failed",
            "Failed SMTP send attempts (not emails) by class: 4xx, 5xx, timeout, refused, other.",
            labels=["class"],
        )
        for name, count in c.failures_by_class.items():
            failures.add_metric([name], count)
        yield failures
