from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.errors import RunError
from poolbench.loadgen import LoadSpec, run_load
from poolbench.loadgen.backlog import BacklogGate
from tests.loadgen.kafka_client import group_consumer, new_topic


class _Reader:
    def __init__(self) -> None:
        self.value = 0
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.value


def test_gate_releases_up_to_the_target_and_waits_for_commits() -> None:
    reader = _Reader()
    gate = BacklogGate(10, reader, poll_interval=0.1)
    assert gate.permits(0, now=0.0) == 10
    assert gate.permits(10, now=0.01) == 0
    reader.value = 6
    # Not re-read before the poll interval has passed...
    assert gate.permits(10, now=0.05) == 0
    assert reader.reads == 1
    # ...then it sees the commits.
    assert gate.permits(10, now=0.11) == 6
    assert reader.reads == 2
    assert gate.max_backlog == 10


def test_gate_ignores_an_answer_that_went_backwards() -> None:
    reader = _Reader()
    gate = BacklogGate(5, reader, poll_interval=0.0)
    reader.value = 4
    assert gate.permits(5, now=1.0) == 4
    reader.value = 2
    assert gate.permits(5, now=2.0) == 4
    assert gate.consumed == 4


@pytest.fixture
def slow_consumer(embedded_broker: EmbeddedBroker) -> Iterator[tuple[str, str, list[int]]]:
    """A group consumer that takes 20 messages per 10 ms and commits each batch."""
    topic = new_topic(embedded_broker, 4, prefix="backlog")
    group = f"{topic}-group"
    consumed = [0]
    stop = threading.Event()

    def consume() -> None:
        consumer = group_consumer(embedded_broker.bootstrap_servers, topic, group)
        try:
            while not stop.is_set():
                messages = consumer.consume(num_messages=20, timeout=0.1)
                good = [m for m in messages if m.error() is None]
                if good:
                    consumer.commit(asynchronous=False)
                    consumed[0] += len(good)
                    time.sleep(0.01)
        finally:
            consumer.close()

    thread = threading.Thread(target=consume, name="slow-consumer", daemon=True)
    thread.start()
    yield topic, group, consumed
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_saturation_keeps_the_backlog_near_the_target(
    embedded_broker: EmbeddedBroker, slow_consumer: tuple[str, str, list[int]]
) -> None:
    topic, group, consumed = slow_consumer
    spec = LoadSpec(topic=topic, rate="saturate", backlog=100, group=group, count=1000, seed=1)
    report = run_load(spec, bootstrap_servers=embedded_broker.bootstrap_servers)
    assert report.produced == report.acknowledged == 1000
    assert report.backlog_max is not None
    assert report.backlog_max <= 100
    # The generator could have produced all 1000 in milliseconds: it waited for commits,
    # so the consumer had taken most of them by the time the last one was released.
    assert consumed[0] >= 1000 - 100 - 20
    deadline = time.monotonic() + 30
    while consumed[0] < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert consumed[0] == 1000


def test_saturation_without_a_consumer_stops_at_the_backlog(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = new_topic(embedded_broker, 2, prefix="idle")
    spec = LoadSpec(topic=topic, rate="max", backlog=50, group="nobody", duration="300ms")
    report = run_load(spec, bootstrap_servers=embedded_broker.bootstrap_servers)
    assert report.produced == 50
    assert report.backlog_max == 50
    assert report.complete


def test_a_gate_whose_group_never_commits_fails_instead_of_waiting_forever(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = new_topic(embedded_broker, 2, prefix="stall")
    spec = LoadSpec(
        topic=topic, rate="saturate", backlog=20, group="nobody", count=100, stall_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(RunError, match=rf"group nobody .* topic {topic}"):
        run_load(spec, bootstrap_servers=embedded_broker.bootstrap_servers)
    assert time.monotonic() - started < 30
