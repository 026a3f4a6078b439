from __future__ import annotations

from confluent_kafka import Producer

from poolbench.broker import EmbeddedBroker
from poolbench.merge.dlq import read_dead_letters
from poolbench.wire import HEADER_ID
from tests.loadgen.kafka_client import new_topic


def test_dead_letters_are_read_back_by_id(embedded_broker: EmbeddedBroker) -> None:
    servers = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 2, prefix="dlq")
    producer = Producer({"bootstrap.servers": servers})
    for i in range(5):
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_ID, f"id-{i}".encode()),
            ("error", b"550 mailbox unavailable"),
        ]
        producer.produce(topic, b"{}", partition=i % 2, headers=headers)
    producer.produce(topic, b"{}", partition=0, headers=[("error", b"malformed")])
    assert producer.flush(10) == 0
    letters = read_dead_letters(servers, topic, timeout=30)
    assert dict(letters.by_id) == {f"id-{i}": "550 mailbox unavailable" for i in range(5)}
    assert letters.without_id == 1
    assert letters.topic == topic


def test_an_empty_dead_letter_topic_has_no_letters(embedded_broker: EmbeddedBroker) -> None:
    topic = new_topic(embedded_broker, 1, prefix="dlq")
    letters = read_dead_letters(embedded_broker.bootstrap_servers, topic, timeout=30)
    assert (dict(letters.by_id), letters.without_id) == ({}, 0)
