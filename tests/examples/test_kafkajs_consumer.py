"""The kafkajs consumer (examples/kafkajs-consumer): a client without a built-in LZ4 codec."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poolbench.broker import CommittedOffsets, EmbeddedBroker, TopicSpec, watermarks
from poolbench.sink import SinkServer, parse_latency
from tests.examples.conftest import Spawn
from tests.examples.harness import (
    READY,
    ConsumerProcess,
    delivered_ids,
    new_ids,
    produce,
    wait_until,
)

pytestmark = pytest.mark.slow
SinkFactory = Callable[..., SinkServer]


def _unique(prefix: str) -> str:
    return f"{prefix}-{new_ids(1)[0][:8]}"


def start_kafkajs(
    spawn: Spawn,
    entry: Path,
    broker: EmbeddedBroker,
    sink: SinkServer,
    *,
    topic: str,
    group: str,
    concurrency: int,
) -> ConsumerProcess:
    argv = [
        "node", str(entry),
        "--brokers", broker.bootstrap_servers,
        "--topic", topic,
        "--group", group,
        "--smtp-host", sink.host,
        "--smtp-port", str(sink.port),
        "--concurrency", str(concurrency),
    ]  # fmt: skip
    return spawn(argv)


def _all_committed(broker: EmbeddedBroker, topic: str, group: str) -> bool:
    offsets = CommittedOffsets(broker.bootstrap_servers, topic, group)
    try:
        committed = offsets.read()
    finally:
        offsets.close()
    highs = watermarks(broker.bootstrap_servers, topic)
    return all(committed.get(p) == high for p, (_, high) in highs.items() if high > 0)


def test_uncompressed_events_are_all_delivered_and_committed_after_sending(
    kafkajs: Path, embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, spawn: Spawn
) -> None:
    topic, group = _unique("js-clean"), _unique("js-group")
    embedded_broker.create_topic(TopicSpec(topic, 4))
    sink = sink_factory(latency=parse_latency("10ms"))
    ids = new_ids(200)
    produce(embedded_broker.bootstrap_servers, topic, ids, compression="none")

    consumer = start_kafkajs(
        spawn, kafkajs, embedded_broker, sink, topic=topic, group=group, concurrency=4
    )
    consumer.wait_for_line(READY, 30)
    wait_until(
        lambda: delivered_ids(sink) >= set(ids), 60, "all 200 emails at the sink", process=consumer
    )
    wait_until(
        lambda: _all_committed(embedded_broker, topic, group), 20, "offsets committed to the end"
    )

    receipts = sink.receipts()
    assert {r.id for r in receipts} == set(ids)
    for r in receipts:
        assert r.intended_ns is not None and r.started_ns is not None
        assert r.intended_ns <= r.started_ns <= r.received_ns
    assert consumer.terminate() == 0


def test_lz4_compressed_events_stop_it_with_a_loud_error(
    kafkajs: Path, embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, spawn: Spawn
) -> None:
    """What an LZ4-only load generator does to a kafkajs consumer: nothing is delivered."""
    topic, group = _unique("js-lz4"), _unique("js-group")
    embedded_broker.create_topic(TopicSpec(topic, 2))
    sink = sink_factory()
    produce(embedded_broker.bootstrap_servers, topic, new_ids(20), compression="lz4")

    consumer = start_kafkajs(
        spawn, kafkajs, embedded_broker, sink, topic=topic, group=group, concurrency=2
    )
    assert consumer.proc.wait(30) == 3, consumer.output()[-3000:]
    assert "LZ4 compression not implemented" in consumer.output()
    assert sink.receipts() == []


def test_a_kill_loses_nothing_because_it_commits_after_sending(
    kafkajs: Path, embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, spawn: Spawn
) -> None:
    """The Go service's crash test, on a consumer that commits after sending: no loss."""
    topic, group = _unique("js-crash"), _unique("js-group")
    embedded_broker.create_topic(TopicSpec(topic, 4))
    sink = sink_factory(latency=parse_latency("200ms"))
    ids = new_ids(100)
    produce(embedded_broker.bootstrap_servers, topic, ids, compression="none")

    first = start_kafkajs(
        spawn, kafkajs, embedded_broker, sink, topic=topic, group=group, concurrency=2
    )
    first.wait_for_line(READY, 30)
    wait_until(lambda: len(delivered_ids(sink)) >= 5, 30, "the first emails")
    time.sleep(0.5)
    first.kill()
    at_kill = delivered_ids(sink)
    assert len(at_kill) < len(ids)

    second = start_kafkajs(
        spawn, kafkajs, embedded_broker, sink, topic=topic, group=group, concurrency=4
    )
    second.wait_for_line(READY, 60)
    wait_until(
        lambda: delivered_ids(sink) >= set(ids), 60, "every email after the restart", process=second
    )
    assert second.terminate() == 0
    receipts = sink.receipts()
    print(
        f"\nkafkajs crash: produced {len(ids)}, delivered {len({r.id for r in receipts})}, "
        f"lost 0, duplicates {len(receipts) - len({r.id for r in receipts})}"
    )
