"""The dead-letter producer: events that failed for good go to the DLQ topic, whole.

A dead letter carries the original value, key and headers, plus headers saying why
(`error`), after how many send attempts (`attempts`), and where it came from
(`source-topic`, `source-partition`, `source-offset`). An event counts as finished only
once the broker acknowledged its dead letter, so `send` waits for the delivery report.
librdkafka delivers reports from `Producer.poll`, which a small thread of ours calls; each
report resolves an asyncio future through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer

from poolbench.errors import DeadLetterError

logger = logging.getLogger(__name__)

HEADER_ERROR: Final = "error"
HEADER_ATTEMPTS: Final = "attempts"
HEADER_SOURCE_TOPIC: Final = "source-topic"
HEADER_SOURCE_PARTITION: Final = "source-partition"
HEADER_SOURCE_OFFSET: Final = "source-offset"
_OWN_HEADERS: Final = frozenset(
    {
        HEADER_ERROR,
        HEADER_ATTEMPTS,
        HEADER_SOURCE_TOPIC,
        HEADER_SOURCE_PARTITION,
        HEADER_SOURCE_OFFSET,
    }
)

Headers = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A dead letter read back from the DLQ topic (for tests and the runner)."""

    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]  # the original ones
    error: str
    attempts: int
    source_topic: str
    source_partition: int
    source_offset: int

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def read_dead_letter(value: bytes | None, key: bytes | None, headers: Headers | None) -> DeadLetter:
    """Split a DLQ message's headers into the original ones and the dead-letter fields."""
    own: dict[str, str] = {}
    original: list[tuple[str, bytes | None]] = []
    for name, raw in headers or ():
        if name in _OWN_HEADERS and name not in own:
            own[name] = (raw or b"").decode("utf-8", "replace")
        else:
            original.append((name, raw))
    return DeadLetter(
        value=value,
        key=key,
        headers=tuple(original),
        error=own.get(HEADER_ERROR, ""),
        attempts=int(own.get(HEADER_ATTEMPTS) or 0),
        source_topic=own.get(HEADER_SOURCE_TOPIC, ""),
        source_partition=int(own.get(HEADER_SOURCE_PARTITION) or -1),
        source_offset=int(own.get(HEADER_SOURCE_OFFSET) or -1),
    )


class DeadLetterProducer:
    """Writes dead letters to one topic; `send` returns once the broker has them.

    Create and use it from one event loop (`send` is a coroutine); `close` from anywhere.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        config: Mapping[str, Any] | None = None,
        delivery_timeout_s: float = 30.0,
    ) -> None:
        self.topic = topic
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": "poolbench-dlq",
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": int(delivery_timeout_s * 1000),
                **(config or {}),
            }
        )
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="poolbench-dlq", daemon=True)
        self._thread.start()
        self.sent = 0

    def _serve(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    async def send(
        self,
        *,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        error: str,
        attempts: int,
        source_topic: str,
        source_partition: int,
        source_offset: int,
    ) -> None:
        """Produce one dead letter and wait for the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            # The loop may be closed already: nobody waits any more then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, done, err)

        all_headers: list[tuple[str, str | bytes | None]] = [
            *(headers or ()),
            (HEADER_ERROR, error.encode("utf-8", "replace")),
            (HEADER_ATTEMPTS, str(attempts).encode()),
            (HEADER_SOURCE_TOPIC, source_topic.encode()),
            (HEADER_SOURCE_PARTITION, str(source_partition).encode()),
            (HEADER_SOURCE_OFFSET, str(source_offset).encode()),
        ]
        while True:
            try:
                self._producer.produce(
                    self.topic, value=value, key=key, headers=all_headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                # The local queue is full: the poll thread drains it; wait a moment.
                await asyncio.sleep(0.01)
            except KafkaException as exc:
                raise DeadLetterError(f"dead letter to {self.topic!r} failed: {exc}") from exc
        await done
        self.sent += 1

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is queued, stop the poll thread; returns how many were not delivered."""
        self._closing.set()
        self._thread.join(timeout=5)
        left = int(self._producer.flush(timeout))
        if left:
            logger.warning("%d dead letters were not delivered to %r", left, self.topic)
        return left


def _settle(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(DeadLetterError(f"dead letter not delivered: {err.str()}"))
