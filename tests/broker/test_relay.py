"""The relay in front of the mock brokers: a fetch waits no longer than ours, whatever
the client asked for."""

from __future__ import annotations

import statistics
import struct
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer

from poolbench.broker import BrokerProcess, EmbeddedBroker, TopicSpec
from poolbench.broker.relay import FETCH_WAIT_CAP_MS, cap_fetch_wait, max_wait_offset
from poolbench.consumer.kafka_tuning import kafka_tuning
from tests.loadgen.kafka_client import new_topic


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fetch(version: int, wait_ms: int, *, client_id: bytes = b"rdkafka", tags: int = 0) -> bytes:
    header = struct.pack(">hhih", 1, version, 7, len(client_id)) + client_id
    if version >= 12:
        header += _uvarint(tags)
        for tag in range(tags):
            header += _uvarint(tag) + _uvarint(3) + b"abc"
    body = b"" if version >= 15 else struct.pack(">i", -1)
    body += struct.pack(">ii", wait_ms, 1) + b"\x00" * 20
    return header + body


def _wait_of(frame: bytes | bytearray) -> int:
    at = max_wait_offset(frame)
    assert at is not None
    return int(struct.unpack_from(">i", frame, at)[0])


def test_fetch_wait_is_found_and_capped_in_every_header_version() -> None:
    for version, tags in ((4, 0), (11, 0), (12, 0), (12, 2), (13, 1), (15, 0), (16, 3)):
        frame = bytearray(_fetch(version, 500, tags=tags))
        assert _wait_of(frame) == 500, version
        before = bytes(frame)
        assert cap_fetch_wait(frame, FETCH_WAIT_CAP_MS)
        assert _wait_of(frame) == FETCH_WAIT_CAP_MS
        # Only the four bytes of MaxWaitMs changed.
        changed = [i for i, (a, b) in enumerate(zip(before, frame, strict=True)) if a != b]
        assert len(changed) <= 4 and max(changed) - min(changed) < 4


def test_short_waits_other_requests_and_garbage_pass_unchanged() -> None:
    short = bytearray(_fetch(11, 5))
    assert not cap_fetch_wait(short, 10)
    assert _wait_of(short) == 5
    null_client = bytearray(_fetch(11, 500, client_id=b""))
    struct.pack_into(">h", null_client, 8, -1)  # a null client id
    assert cap_fetch_wait(null_client, 10) and _wait_of(null_client) == 10
    produce = bytearray(struct.pack(">hhih", 0, 7, 1, 0) + b"\x00" * 40)
    assert max_wait_offset(produce) is None
    assert not cap_fetch_wait(produce, 10)
    for garbage in (b"", b"\x00\x01", b"\x00\x01\x00\x0c\x00\x00\x00\x01\x00\x09ab"):
        assert max_wait_offset(garbage) is None


def _consumer(servers: str, topic: str, extra: dict[str, Any]) -> Any:
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            **extra,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.1)
    assert consumer.assignment(), "the consumer never got its partition"
    return consumer


def _latencies_ms(consumer: Any, count: int, out: list[float]) -> None:
    deadline = time.monotonic() + 60
    while len(out) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error() is not None:
            continue
        out.append((time.monotonic_ns() - int(message.value())) / 1e6)


def test_a_consumer_with_librdkafkas_defaults_waits_no_longer_than_ours(
    embedded_broker: EmbeddedBroker,
) -> None:
    """librdkafka's default fetch.wait.max.ms is 500: the mock alone would hold each fetch
    that long when no data is there, so a paced email waited ~250 ms on average."""
    servers = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1, prefix="relay")
    defaults = _consumer(servers, topic, {})
    ours = _consumer(servers, topic, {**kafka_tuning()})
    count = 40
    got: dict[str, list[float]] = {"defaults": [], "ours": []}
    readers = [
        threading.Thread(target=_latencies_ms, args=(defaults, count, got["defaults"])),
        threading.Thread(target=_latencies_ms, args=(ours, count, got["ours"])),
    ]
    try:
        for reader in readers:
            reader.start()
        producer = Producer({"bootstrap.servers": servers, "linger.ms": 0})
        for _ in range(count):
            producer.produce(topic, value=str(time.monotonic_ns()).encode())
            producer.poll(0)
            time.sleep(0.04)  # paced: the consumers are idle, waiting in a fetch
        producer.flush(10)
        for reader in readers:
            reader.join(70)
    finally:
        defaults.close()
        ours.close()
    assert len(got["defaults"]) == len(got["ours"]) == count
    default_median = statistics.median(got["defaults"])
    our_median = statistics.median(got["ours"])
    assert abs(default_median - our_median) < FETCH_WAIT_CAP_MS, got
    assert max(got["defaults"]) < max(got["ours"]) + 100, got


def test_the_relay_sees_which_topics_a_group_joined_for(embedded_broker: EmbeddedBroker) -> None:
    servers = embedded_broker.bootstrap_servers
    wanted = new_topic(embedded_broker, 2, prefix="wanted")
    other = new_topic(embedded_broker, 1, prefix="other")
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": servers, "group.id": group})
    consumer.subscribe([other])
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.1)
        assert embedded_broker.joined_topics(group) == frozenset({other})
        assert wanted not in (embedded_broker.joined_topics(group) or ())
        assert embedded_broker.joined_topics(f"nobody-{uuid.uuid4().hex[:6]}") is None
    finally:
        consumer.close()


def test_a_broker_process_answers_which_topics_a_group_joined_for() -> None:
    with BrokerProcess(topics=[TopicSpec("in", 1), TopicSpec("typo", 1)]) as broker:
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "g"})
        consumer.subscribe(["typo"])
        try:
            deadline = time.monotonic() + 30
            while not consumer.assignment() and time.monotonic() < deadline:
                consumer.poll(0.1)
            assert broker.joined_topics("g") == frozenset({"typo"})
            assert broker.joined_topics("other") is None
        finally:
            consumer.close()
