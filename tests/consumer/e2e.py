"""Helpers for the consumer's end-to-end tests: real broker, real sink, over TCP."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.consumer.dlq import DeadLetter, read_dead_letter
from poolbench.consumer.metrics import ConsumerCounters
from poolbench.consumer.service import ConsumerService
from poolbench.consumer.settings import ConsumerSettings
from poolbench.sink import SinkServer
from poolbench.wire import (
    HEADER_ID,
    HEADER_INTENDED_NS,
    EmailEvent,
    EmailMessage,
    encode_event,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
POISON = b'{"type": "welcome", "message": {"id": "broken"'
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}-{uuid.uuid4().hex[:6]}"


def topics(broker: EmbeddedBroker, partitions: int = 4) -> tuple[str, str]:
    """A fresh input topic and DLQ topic on the shared broker."""
    source, dlq = unique("emails"), unique("dlq")
    broker.create_topic(TopicSpec(source, partitions))
    broker.create_topic(TopicSpec(dlq, 1))
    return source, dlq


def event_value(
    event_id: str, *, to: str = "ana@example.org", max_retries: int = 3, priority: str = "normal"
) -> bytes:
    return encode_event(
        EmailEvent(
            type="welcome",
            message=EmailMessage(
                id=event_id,
                sender="shop@example.com",
                to=to,
                subject=f"Welcome {event_id}",
                data={"name": "Ana"},
                max_retries=max_retries,
                priority=priority,
            ),
        )
    )


def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[tuple[str, bytes]],
    *,
    rate: float | None = None,
) -> None:
    """Produce (id, value) pairs with poolbench's headers; `rate` per second, or at once."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    start = time.monotonic()
    for index, (event_id, value) in enumerate(values):
        if rate is not None:
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_ID, event_id.encode()),
            (HEADER_INTENDED_NS, str(time.monotonic_ns()).encode()),  # poolbench's clock
        ]
        producer.produce(topic, value=value, headers=headers)
        producer.poll(0)
    assert producer.flush(10) == 0


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def settings_for(
    broker: EmbeddedBroker, sink: SinkServer, topic: str, dlq: str, **changes: Any
) -> ConsumerSettings:
    base = ConsumerSettings(
        kafka_brokers=broker.bootstrap_servers,
        kafka_topic=topic,
        kafka_group=unique("group"),
        smtp_host=sink.host,
        smtp_port=sink.port,
        dlq_topic=dlq,
        commit_interval_s=0.1,
        shutdown_timeout_s=10.0,
        retry_base_s=0.01,
        retry_max_s=0.05,
        breaker_cooldown_s=0.3,
    )
    return replace(base, **changes)


def run_service(service: ConsumerService, timeout: float = 60.0) -> ConsumerCounters:
    async def main() -> ConsumerCounters:
        return await asyncio.wait_for(service.run(), timeout)

    return asyncio.run(main())


def read_dead_letters(
    bootstrap: str, topic: str, expected: int, timeout: float = 15.0
) -> list[DeadLetter]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("dlq-reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.2):
                if message.error() is None:
                    headers = message.headers() or []
                    assert isinstance(headers, list)
                    letters.append(
                        read_dead_letter(
                            message.value(),
                            message.key(),
                            [(k, v if not isinstance(v, str) else v.encode()) for k, v in headers],
                        )
                    )
    finally:
        consumer.close()
    return letters


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def background(target: Callable[[], None]) -> Iterator[threading.Thread]:
    """Run `target` in a thread for the duration of the block; always joined."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=30)


class ServiceThread:
    """A ConsumerService running in its own thread and event loop, as a context manager."""

    def __init__(self, settings: ConsumerSettings, **kwargs: Any) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.service = ConsumerService(settings, on_ready=self._on_ready, **kwargs)
        self.counters: ConsumerCounters | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_ready(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready.set()

    def _run(self) -> None:
        try:
            self.counters = asyncio.run(self.service.run())
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 30.0) -> ServiceThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError("the consumer did not get a partition assignment")
        if self.error is not None:
            raise self.error
        return self

    def service_loop(self) -> asyncio.AbstractEventLoop:
        """The consumer's event loop (known once it is ready)."""
        assert self._loop is not None
        return self._loop

    def stop(self, timeout: float = 60.0) -> ConsumerCounters:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.service.request_stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the consumer did not stop")
        if self.error is not None:
            raise self.error
        assert self.counters is not None
        return self.counters

    def __enter__(self) -> ServiceThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()
