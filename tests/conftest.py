"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from poolbench.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """One embedded Kafka broker (librdkafka's mock cluster) for the session.

    Tests create their own uniquely named topics on it with `create_topic`.
    """
    with EmbeddedBroker(brokers=1) as broker:
        yield broker
