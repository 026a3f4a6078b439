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
    metrics.gauges = GaugeValues(queue_length=5, busy_workers=4, workers=10, breaker_state="open")
    metrics.send_latency.observe(0.004)
    values = _scrape(port)
    assert values["poolbench_emails_sent_total"] == 7
    assert values["poolbench_emails_dead_lettered_total"] == 2
    assert values["poolbench_emails_retried_total"] == 3
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
