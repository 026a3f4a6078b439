"""Fixtures shared by the whole suite: a real broker and real SMTP sinks, all on port 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.sink import SinkConfig, SinkServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `-n 2 --dist loadgroup`, every slow (end-to-end) test goes to one worker, one
    after another: two real runs at once on 2 cores would measure each other."""
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("end-to-end"))


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """One embedded Kafka broker (librdkafka's mock cluster) for the session.

    Tests create their own uniquely named topics on it with `create_topic`.
    """
    with EmbeddedBroker(brokers=1) as broker:
        yield broker


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., SinkServer]]:
    """`sink_factory(latency=parse_latency("10ms"), ...)` -> a started SinkServer on port 0.

    Keyword arguments are `SinkConfig` fields; every sink started is stopped at teardown.
    """
    started: list[SinkServer] = []

    def make(**fields: Any) -> SinkServer:
        fields.setdefault("port", 0)
        sink = SinkServer(SinkConfig(**fields)).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()
