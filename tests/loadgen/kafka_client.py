"""A plain confluent-kafka group consumer for tests: what any consumer would see."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.consumer.kafka_tuning import kafka_tuning


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def new_topic(broker: EmbeddedBroker, partitions: int, prefix: str = "t") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    broker.create_topic(TopicSpec(name, partitions))
    return name


def group_consumer(bootstrap_servers: str, topic: str, group: str) -> Any:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **kafka_tuning(),
        }
    )
    consumer.subscribe([topic])
    return consumer


def take(consumer: Any, count: int, *, timeout: float = 30.0) -> list[Received]:
    """Up to `count` messages (fewer only if `timeout` passes first)."""
    out: list[Received] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=count - len(out), timeout=0.2):
            if message.error() is not None:
                continue
            out.append(
                Received(
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers={k: v for k, v in (message.headers() or [])},
                )
            )
    return out


def consume_all(
    bootstrap_servers: str, topic: str, count: int, *, group: str = "", timeout: float = 30.0
) -> list[Received]:
    """Consume `count` messages with a fresh group and manual commits, then close."""
    consumer = group_consumer(bootstrap_servers, topic, group or f"g-{uuid.uuid4().hex[:8]}")
    try:
        got = take(consumer, count, timeout=timeout)
        if got:
            consumer.commit(asynchronous=False)
        return got
    finally:
        consumer.close()
