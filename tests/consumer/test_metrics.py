import urllib.request
from collections.abc import Iterator

import pytest

from poolbench.consumer.metrics import (
    ConsumerMetrics,
    GaugeValues,
    LiveCounters,
    snapshot,
)


@pytest.fixture
def metrics() -> Iterator[ConsumerMetrics]:
    served = ConsumerMetrics(LiveCounters())
    yield served
    served.close()


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, number = line.rpartition(" ")
            values[name] = float(number)
    return values


def test_endpoint_serves_live_counters_gauges_and_latency(metrics: ConsumerMetrics) -> None:
    port = metrics.serve(0)
    assert port > 0
    metrics.counters.sent = 7
    metrics.counters.dead_lettered = 2
    metrics.counters.retried = 3
    metrics.counters.undeliverable = 1
    metrics.gauges = GaugeValues(queue_length=5, busy_workers=4, workers=10, breaker_state="open")
    metrics.send_latency.observe(0.004)
    values = _scrape(port)
    assert values["poolbench_emails_sent_total"] == 7
    assert values["poolbench_events_dead_lettered_total"] == 2
    assert values["poolbench_send_retries_total"] == 3
    # Emails that failed for good, apart from the failed attempts (by class).
    assert values["poolbench_emails_undeliverable_total"] == 1
    assert "poolbench_emails_failed_total" not in values
    assert values["poolbench_queue_length"] == 5
    assert values["poolbench_busy_workers"] == 4
    assert values["poolbench_circuit_breaker_state"] == 2
    assert values["poolbench_send_latency_seconds_count"] == 1
    assert values['poolbench_send_latency_seconds_bucket{le="0.005"}'] == 1
    assert values['poolbench_send_latency_seconds_bucket{le="0.0025"}'] == 0
    metrics.counters.sent = 8  # read at scrape time, not copied
    assert _scrape(port)["poolbench_emails_sent_total"] == 8


def test_two_consumers_do_not_share_a_registry() -> None:
    a, b = ConsumerMetrics(LiveCounters()), ConsumerMetrics(LiveCounters())
    a.counters.sent = 1
    assert "poolbench_emails_sent_total 1.0" in a.exposition()
    assert "poolbench_emails_sent_total 0.0" in b.exposition()


def test_snapshot_accounts_for_every_event() -> None:
    live = LiveCounters(consumed=10, sent=6, dead_lettered=3, invalid=1, retried=4, failed=5)
    counters = snapshot(live, finished_uncommitted=2, elapsed_s=2.0)
    assert counters.left_uncommitted == 1
    assert counters.sent + counters.dead_lettered + counters.left_uncommitted == counters.consumed
    assert counters.emails_per_s == 3.0
    doc = counters.to_dict()
    assert doc["left_uncommitted"] == 1
    assert doc["emails_per_s"] == 3.0
    line = counters.summary_line()
    assert "sent 6" in line
    assert "left for redelivery 1" in line
    assert "+2 finished but uncommitted" in line
    assert "timed out" not in line
    assert "timed out" in snapshot(live, timed_out=True).summary_line()


def test_the_prometheus_set_has_process_queue_journey_and_failure_classes(
    metrics: ConsumerMetrics,
) -> None:
    metrics.gauges = GaugeValues(queue_capacity=100)
    metrics.counters.failures_by_class["refused"] = 4
    metrics.end_to_end.observe(0.2)
    metrics.queue_wait.observe(0.01)
    text = metrics.exposition()
    for series in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "poolbench_queue_capacity 100.0",
        'poolbench_send_attempts_failed_total{class="refused"} 4.0',
        'poolbench_send_attempts_failed_total{class="4xx"} 0.0',
        "poolbench_end_to_end_seconds_count 1.0",
        "poolbench_queue_wait_seconds_count 1.0",
    ):
        assert series in text, series


def test_the_metrics_endpoint_listens_on_the_host_given(metrics: ConsumerMetrics) -> None:
    port = metrics.serve(0, "0.0.0.0")
    assert "poolbench_emails_sent_total" in "\n".join(_scrape(port))


def test_the_summary_rate_counts_active_time_only() -> None:
    """19.5/s over an idle uptime, where the real rate was 100/s."""
    live = LiveCounters(consumed=1000, sent=1000)
    counters = snapshot(live, elapsed_s=51.3, active_s=10.0)
    assert counters.emails_per_s == 100.0
    assert "100.0 emails/s over 10.0s active (51.3s up)" in counters.summary_line()
