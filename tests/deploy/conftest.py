"""One real `poolbench consume` run per session whose /metrics the deploy tests read:
some sends refused for a while (retried), some for good (undeliverable), two invalid
events; the exposition is read once every email is accounted for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from poolbench.broker import EmbeddedBroker
from poolbench.sink import FaultConfig, SinkConfig, SinkServer
from poolbench.sink.counters import SinkCounters
from tests.consumer.e2e import POISON, event_value, new_ids, produce, topics, wait_until
from tests.deploy.live import consume_process, http_get


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveMetrics:
    text: str  # the exposition of /metrics
    sink: SinkCounters
    good: int  # well-formed events produced
    invalid: int

    def value(self, name: str, **labels: str) -> float:
        """The one sample `name` with `labels` (a counter named with its `_total`)."""
        found = [
            sample.value
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        ]
        assert found, f"{name}{labels} not exported"
        return sum(found)


@pytest.fixture(scope="session")
def live_metrics(
    embedded_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMetrics]:
    source, dlq = topics(embedded_broker, partitions=2)
    ids = new_ids(80)
    values = [(i, event_value(i, max_retries=20)) for i in ids]
    values += [(f"poison-{n}", POISON) for n in range(2)]
    sink = SinkServer(
        SinkConfig(port=0, faults=FaultConfig(transient=0.15, permanent=0.1), seed=7)
    ).start()
    try:
        with consume_process(
            tmp_path_factory.mktemp("live"),
            bootstrap=embedded_broker.bootstrap_servers,
            topic=source,
            dlq=dlq,
            smtp_port=sink.port,
            extra=["--workers", "4", "--breaker-threshold", "50"],
        ) as consumer:
            produce(embedded_broker.bootstrap_servers, source, values)

            def accounted() -> bool:
                done = LiveMetrics(
                    text=http_get(consumer.metrics_url), sink=sink.counters(), good=0, invalid=0
                )
                finished = done.value("poolbench_emails_sent_total") + done.value(
                    "poolbench_events_dead_lettered_total"
                )
                return finished >= len(values)

            wait_until(accounted, 60, "every event sent or dead-lettered")
            text = http_get(consumer.metrics_url)
        yield LiveMetrics(text=text, sink=sink.counters(), good=len(ids), invalid=2)
    finally:
        sink.stop()
