"""The sampler against real processes and a real Prometheus endpoint over HTTP."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from poolbench.run.processes import ProcessSet, ProcessSpec
from poolbench.run.sampler import (
    DEAD_LETTERED_METRIC,
    LAG_METRIC,
    RETRIED_METRIC,
    Sampler,
    parse_metrics,
)

# Holds ~60 MB and burns CPU until killed.
BUSY_60MB = """
block = bytearray(60_000_000)
for i in range(0, len(block), 4096):
    block[i] = 1
print("ready", flush=True)
while True:
    pass
"""


@pytest.fixture
def busy_child() -> Iterator[int]:
    with ProcessSet(grace_s=1.0) as processes:
        child = processes.start(
            ProcessSpec(name="busy", argv=(sys.executable, "-c", BUSY_60MB), ready_pattern="ready")
        )
        child.wait_ready(20)
        yield child.pid


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("poolbench_queue_length", "queue", registry=registry).set(7)
    Gauge("poolbench_busy_workers", "busy", registry=registry).set(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_samples_rss_and_cpu_of_a_watched_process(busy_child: int, metrics_url: str) -> None:
    with Sampler(interval_s=0.3) as sampler:
        sampler.watch("consumer", busy_child)
        sampler.scrape(metrics_url)
        sampler.scrape("http://127.0.0.1:1/metrics")  # unreachable: skipped, not fatal
        deadline = time.monotonic() + 20
        while len(sampler.process_samples()) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    samples = sampler.process_samples()
    assert len(samples) >= 4
    assert all(s.role == "consumer" and s.processes == 1 for s in samples)
    assert min(s.rss_bytes for s in samples) > 60_000_000
    # A busy loop on a shared 2-core machine (load average 4-5): a generous lower bound.
    assert max(s.cpu_percent for s in samples) > 5
    latest = sampler.latest("consumer")
    assert latest is not None
    assert latest.t_ns == samples[-1].t_ns
    metrics = sampler.metric_samples()
    assert metrics
    assert {(m.queue_depth, m.busy_workers) for m in metrics} == {(7.0, 3.0)}
    # Retries, dead letters and lag are not exported by this endpoint: None, not 0.
    assert {(m.retried, m.dead_lettered, m.lag) for m in metrics} == {(None, None, None)}
    assert sampler.latest("loadgen") is None


def test_a_vanished_process_yields_no_samples() -> None:
    sampler = Sampler()
    sampler.watch("consumer", 2**22 + 12345)  # above the default pid_max: never running
    sampler.sample_once()
    sampler.sample_once()
    assert sampler.process_samples() == []
    assert sampler.latest_metrics() is None


def test_parse_metrics_sums_label_sets_and_ignores_others() -> None:
    text = (
        "# TYPE poolbench_queue_length gauge\n"
        'poolbench_queue_length{instance="a"} 4\n'
        'poolbench_queue_length{instance="b"} 6\n'
        "# TYPE other gauge\nother 99\n"
    )
    assert parse_metrics(text, ["poolbench_queue_length", "missing"]) == {
        "poolbench_queue_length": 10.0
    }


def test_a_pid_watched_alone_leaves_its_childrens_cpu_to_their_roles(busy_child: int) -> None:
    # busy_child is this test process's child. Watched with its children, this process
    # (the runner, in a point) would count the child's CPU again under its own role.
    with Sampler(interval_s=0.3) as sampler:
        sampler.watch("runner", os.getpid(), children=False)
        sampler.watch("consumer", busy_child)
        deadline = time.monotonic() + 20
        while len(sampler.process_samples()) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    by_role: dict[str, list[float]] = {}
    for s in sampler.process_samples():
        by_role.setdefault(s.role, []).append(s.cpu_percent)
    assert {s.processes for s in sampler.process_samples() if s.role == "runner"} == {1}
    busy, alone = sum(by_role["consumer"]), sum(by_role["runner"])
    assert busy > 5 * len(by_role["consumer"])  # the busy loop is the consumer's
    assert alone < busy / 2  # a sleeping test process, not its busy child


def test_the_consumers_counters_and_lag_are_scraped_beside_the_queue() -> None:
    """The backlog waiting in Kafka (lag), retries and dead letters come with each scrape,
    read from the consumer's own exposition (counters carry a `_total` suffix)."""
    from poolbench.consumer.metrics import ConsumerMetrics, GaugeValues, LiveCounters

    metrics = ConsumerMetrics(LiveCounters(retried=12, dead_lettered=3))
    metrics.gauges = GaugeValues(consumer_lag=450, queue_length=0)
    text = metrics.exposition()
    values = parse_metrics(
        text,
        [
            "poolbench_queue_length",
            "poolbench_send_retries",
            "poolbench_events_dead_lettered",
            "poolbench_consumer_lag",
        ],
    )
    assert values == {
        "poolbench_queue_length": 0.0,
        "poolbench_send_retries": 12.0,
        "poolbench_events_dead_lettered": 3.0,
        "poolbench_consumer_lag": 450.0,
    }
    # The names the sampler asks for are these: a renamed metric cannot go unread.
    assert (RETRIED_METRIC, DEAD_LETTERED_METRIC, LAG_METRIC) == (
        "poolbench_send_retries",
        "poolbench_events_dead_lettered",
        "poolbench_consumer_lag",
    )
