from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from confluent_kafka import Producer

from poolbench.broker import (
    BrokerError,
    BrokerProcess,
    CommittedOffsets,
    EmbeddedBroker,
    TopicSpec,
    default_topics,
    ensure_topics,
    list_partitions,
    watermarks,
)
from poolbench.broker.control import answer, parse_group_answer, topic_request
from poolbench.errors import ConfigError, UnreachableError, UserError
from tests.loadgen.kafka_client import consume_all, group_consumer, new_topic, take


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connectable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def test_topic_spec_parses_name_and_partitions() -> None:
    assert TopicSpec.parse("email-queue:8") == TopicSpec("email-queue", 8)
    assert TopicSpec.parse("email-dlq") == TopicSpec("email-dlq", 1)
    assert default_topics() == (TopicSpec("email-queue", 8), TopicSpec("email-dlq", 1))
    for bad, shown in (
        ("email-queue:eight", "'email-queue:eight'"),
        ("email-queue:0", "email-queue:0"),
        (":3", "''"),
        ("a b:1", "'a b'"),
    ):
        with pytest.raises(ConfigError) as caught:
            TopicSpec.parse(bad)
        assert caught.value.what == "topic"
        assert shown in str(caught.value)


def test_poolbench_broker_shows_a_topic_error_at_its_flag() -> None:
    from poolbench.cli.broker import broker
    from poolbench.cli.edge import field_flags, fields

    with (
        pytest.raises(ConfigError, match=r"^--topic: expected NAME"),
        fields(field_flags(broker, {})),
    ):
        TopicSpec.parse("a:x")
    with (
        pytest.raises(ConfigError, match=r"^--brokers: must be at least 1"),
        fields(field_flags(broker, {})),
    ):
        EmbeddedBroker(brokers=0)


def test_broker_errors_are_the_users_to_fix() -> None:
    # librdkafka missing or a topic refused: one line and exit 2 from the CLI.
    assert issubclass(BrokerError, UserError)


def test_embedded_broker_serves_topics_over_tcp(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    assert address.startswith("127.0.0.1:")
    assert _connectable(address)
    topic = new_topic(embedded_broker, 8)
    assert list_partitions(address, topic) == list(range(8))
    assert watermarks(address, topic) == {p: (0, 0) for p in range(8)}


def test_several_brokers_and_clean_stop() -> None:
    broker = EmbeddedBroker(brokers=3, topics=[TopicSpec("email-queue", 6)])
    with broker:
        addresses = broker.bootstrap_servers.split(",")
        assert len(addresses) == 3
        assert all(_connectable(a) for a in addresses)
        assert list_partitions(broker.bootstrap_servers, "email-queue") == list(range(6))
    assert not any(_connectable(a) for a in addresses)
    broker.stop()  # a second stop is harmless


def test_ensure_topics_leaves_existing_topics(embedded_broker: EmbeddedBroker) -> None:
    topic = new_topic(embedded_broker, 3)
    ensure_topics(embedded_broker.bootstrap_servers, [TopicSpec(topic, 3)], timeout=5)
    assert list_partitions(embedded_broker.bootstrap_servers, topic) == [0, 1, 2]


def test_unreachable_cluster_fails_in_bounded_time() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=address):
        ensure_topics(address, [TopicSpec("x")], timeout=1.5)
    with pytest.raises(UnreachableError):
        list_partitions(address, "x", timeout=1.5)
    assert time.monotonic() - started < 20


def test_missing_topic_is_a_config_error(embedded_broker: EmbeddedBroker) -> None:
    with pytest.raises(ConfigError, match="no-such-topic"):
        list_partitions(embedded_broker.bootstrap_servers, "no-such-topic", timeout=5)


def test_broker_drop_detector_fires_on_an_overfilled_partition(
    embedded_broker: EmbeddedBroker,
) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    kept = new_topic(embedded_broker, 1)
    # Uncompressed 2 KB messages: 30k of them are ~60 MB, far above the ~5 MiB a mock
    # partition keeps.
    producer = Producer({"bootstrap.servers": address, "compression.type": "none", "linger.ms": 5})
    value = b"x" * 2048
    for _ in range(30_000):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.01)
    producer.produce(kept, b"small")
    assert producer.flush(30) == 0
    low, high = watermarks(address, topic)[0]
    assert high == 30_000
    assert low > 0
    assert watermarks(address, kept) == {0: (0, 1)}


def test_committed_offsets_follow_a_group(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 2)
    producer = Producer({"bootstrap.servers": address})
    for i in range(20):
        producer.produce(topic, b"v", partition=i % 2)
    assert producer.flush(10) == 0
    reader = CommittedOffsets(address, topic, "watched-group", timeout=5)
    try:
        assert reader.read() == {0: None, 1: None}
        assert len(consume_all(address, topic, 20, group="watched-group")) == 20
        assert reader.read() == {0: 10, 1: 10}
    finally:
        reader.close()


def test_group_consumer_reads_what_was_produced(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    producer = Producer({"bootstrap.servers": address})
    for i in range(5):
        producer.produce(topic, b"m%d" % i)
    assert producer.flush(10) == 0
    consumer = group_consumer(address, topic, "plain-group")
    try:
        got = take(consumer, 5)
    finally:
        consumer.close()
    assert [m.value for m in got] == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_broker_process_creates_topics_and_round_trips_over_tcp() -> None:
    with BrokerProcess(topics=[TopicSpec("given", 2)]) as broker:
        pid = broker.pid
        address = broker.bootstrap_servers
        assert pid != os.getpid()
        assert address.startswith("127.0.0.1:")
        assert list_partitions(address, "given") == [0, 1]
        broker.create_topic("made", 3)
        assert list_partitions(address, "made") == [0, 1, 2]
        with pytest.raises(BrokerError, match="already exists"):
            broker.create_topic("made", 3)
        with pytest.raises(ConfigError, match="partitions"):
            broker.create_topic("bad", 0)
        producer = Producer({"bootstrap.servers": address})
        for i in range(6):
            producer.produce("made", b"m%d" % i, partition=i % 3)
        assert producer.flush(10) == 0
        got = consume_all(address, "made", 6)
        assert sorted(m.value for m in got) == [b"m%d" % i for i in range(6)]
        assert {m.partition for m in got} == {0, 1, 2}
    assert not _alive(pid)
    assert not _connectable(address)
    broker.stop()  # a second stop is harmless


def test_broker_process_is_stopped_on_an_exception() -> None:
    broker = BrokerProcess()
    with pytest.raises(RuntimeError, match="boom"), broker:
        pid = broker.pid
        raise RuntimeError("boom")
    assert not _alive(pid)


def test_broker_process_without_topics_creates_none() -> None:
    with BrokerProcess(brokers=3) as broker:
        assert len(broker.bootstrap_servers.split(",")) == 3
        with pytest.raises(ConfigError, match="email-queue"):
            list_partitions(broker.bootstrap_servers, "email-queue", timeout=5)


def test_broker_process_that_died_is_a_broker_error() -> None:
    with BrokerProcess() as broker:
        os.killpg(broker.pid, signal.SIGKILL)
        with pytest.raises(BrokerError):
            broker.create_topic("late", 1)


class _Topics:
    def __init__(self) -> None:
        self.made: list[TopicSpec] = []

    def create_topic(self, topic: TopicSpec) -> None:
        if topic in self.made:
            raise BrokerError(f"cannot create topic {topic.name}: exists")
        self.made.append(topic)

    def joined_topics(self, group: str) -> frozenset[str] | None:
        return frozenset({"b", "a"}) if group == "g" else None


def test_control_answers_each_request_with_one_line() -> None:
    topics = _Topics()
    assert topic_request("a", 2) == "topic a 2"
    assert answer(topics, "topic a 2\n") == "ok"
    assert answer(topics, "topic a 2") == "error cannot create topic a: exists"
    assert answer(topics, "topic b two").startswith("error partitions must be an integer")
    assert answer(topics, "topic b 0") == "error partitions must be at least 1, got 'b:0'"
    assert answer(topics, "").startswith("error empty")
    assert answer(topics, "delete a").startswith("error unknown request")
    assert topics.made == [TopicSpec("a", 2)]
    assert answer(topics, "group g") == "ok a,b"
    assert answer(topics, "group other") == "unseen"
    assert parse_group_answer("ok a,b") == frozenset({"a", "b"})
    assert parse_group_answer("unseen") is None


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_retention_drops_uncompressed_events_that_lz4_keeps(
    embedded_broker: EmbeddedBroker, compression: str
) -> None:
    # 15k default events (349-byte values, ~492 bytes a record) are ~7 MiB on one
    # partition: above the ~5 MiB it keeps uncompressed, well within it with lz4.
    from poolbench.loadgen import LoadSpec, run_load
    from poolbench.scenario import retention_warning

    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    report = run_load(
        LoadSpec(topic=topic, count=15_000, compression=compression), bootstrap_servers=address
    )
    assert report.acknowledged == 15_000
    low, high = watermarks(address, topic)[0]
    dropped = low - report.first_offsets[0]
    warning = retention_warning(
        rate_per_s=None,
        count=15_000,
        duration_s=1.0,
        message_bytes=349,
        partitions=1,
        compression=compression,
    )
    assert high == 15_000
    if compression == "none":
        assert 0 < dropped == low < 15_000
        assert warning is not None
    else:
        assert dropped == low == 0
        assert warning is None
