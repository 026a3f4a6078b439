"""The lag gauge while paused, against the embedded broker: nothing is fetched while
paused, so the client's cached watermarks freeze and only the broker knows the backlog."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Consumer, TopicPartition

from poolbench.broker import EmbeddedBroker
from poolbench.consumer.poller import KafkaPoller
from tests.consumer.e2e import event_value, new_ids, produce, topics, unique


def _poller(topic: str) -> KafkaPoller:
    loop = asyncio.new_event_loop()
    try:
        poller = KafkaPoller({"group.id": "g"}, topic, handler=None, loop=loop, batch_size=16)  # type: ignore[arg-type]
    finally:
        loop.close()
    poller._assigned.update({(topic, 0)})
    return poller


def test_paused_watermarks_come_from_the_broker(embedded_broker: EmbeddedBroker) -> None:
    source, _dlq = topics(embedded_broker, partitions=1)
    servers = embedded_broker.bootstrap_servers
    produce(servers, source, [(i, event_value(i)) for i in new_ids(10)])
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": unique("lag"), "auto.offset.reset": "earliest"}
    )
    try:
        partition = TopicPartition(source, 0)
        consumer.assign([partition])
        fetched = 0
        deadline = time.monotonic() + 20
        while fetched < 10 and time.monotonic() < deadline:
            fetched += len(consumer.consume(10, timeout=0.5))
        assert fetched == 10
        poller = _poller(source)
        poller._refresh_watermarks(consumer)
        assert poller.high_watermarks == {(source, 0): 10}

        consumer.pause([partition])
        poller._paused = True
        produce(
            servers, source, [(i, event_value(i)) for i in new_ids(490)]
        )  # the outage's backlog
        consumer.consume(1, timeout=0.5)  # paused: fetches nothing, the cache stays at 10
        assert consumer.get_watermark_offsets(partition, cached=True)[1] == 10
        poller._refresh_watermarks(consumer)
        assert poller.high_watermarks == {(source, 0): 500}
    finally:
        consumer.close()
