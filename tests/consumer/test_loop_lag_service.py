"""The consumer measures its event loop's lag and reports it (summary and /metrics)."""

from __future__ import annotations

from collections.abc import Callable

from poolbench.broker import EmbeddedBroker
from poolbench.consumer.service import ConsumerService
from poolbench.sink import SinkServer, parse_latency
from tests.consumer.e2e import event_value, new_ids, produce, run_service, settings_for, topics


def test_the_consumer_reports_its_loop_lag(
    embedded_broker: EmbeddedBroker, sink_factory: Callable[..., SinkServer]
) -> None:
    count = 60
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory(latency=parse_latency("5ms"))
    settings = settings_for(embedded_broker, sink, source, dlq, workers=4, buffer=8)
    service = ConsumerService(settings, max_events=count)
    counters = run_service(service)
    assert counters.sent == count
    lag = counters.loop_lag
    assert lag is not None
    assert lag["samples"] >= 5  # one per 10 ms over the run
    assert 0 < lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]
    assert counters.to_dict()["loop_lag"] == lag  # what --summary-json writes
    text = service.metrics.exposition()
    assert "poolbench_loop_lag_p99_seconds " in text
    assert "poolbench_loop_lag_samples_total" in text
