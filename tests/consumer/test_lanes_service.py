"""Priority lanes end to end: high-priority email overtakes a backlog of low, over TCP."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.consumer.service import ConsumerService
from poolbench.sink import SinkServer, parse_latency
from tests.consumer.e2e import (
    event_value,
    new_ids,
    produce,
    run_service,
    settings_for,
    topics,
)

SinkFactory = Callable[..., SinkServer]


@pytest.mark.parametrize(("lanes", "high_before"), [(False, False), (True, True)])
def test_high_priority_overtakes_a_backlog_of_low_only_with_lanes(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, lanes: bool, high_before: bool
) -> None:
    # 270 low then 30 high, all waiting before the consumer starts; 2 workers at 10 ms.
    source, dlq = topics(embedded_broker, partitions=1)
    low, high = new_ids(270), new_ids(30)
    values = [(i, event_value(i, priority="low")) for i in low]
    values += [(i, event_value(i, priority="high")) for i in high]
    produce(embedded_broker.bootstrap_servers, source, values)
    sink = sink_factory(latency=parse_latency("10ms"))
    settings = settings_for(
        embedded_broker, sink, source, dlq, workers=2, buffer=20, priority_lanes=lanes
    )
    counters = run_service(ConsumerService(settings, max_events=300))
    order = [r.id for r in sorted(sink.receipts(), key=lambda r: r.received_ns)]
    assert sorted(order) == sorted(low + high)  # nothing lost, nothing twice
    assert counters.consumed == counters.sent == 300
    mean_rank_of_high = statistics.fmean(order.index(i) for i in high) / len(order)
    if high_before:
        # The lanes take 8 high for every low: the high ones arrive early.
        assert mean_rank_of_high < 0.5
    else:
        # One queue: they wait behind every low one.
        assert mean_rank_of_high > 0.85
