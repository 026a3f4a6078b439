"""One long-lived Kafka client per point: dead letters by id, and retention against commits.

It reads the point's dead-letter topic from the start (each dead letter's id from the
`poolbench-id` header, else from the event's JSON; its reason from the `error` header),
and samples, per input partition, the low watermark beside the consumer group's
committed offset: an offset that retention removed before the group committed past it
was dropped by the broker, not lost by the consumer (`poolbench.run.accounting`).
It never joins the group (it assigns partitions and never commits), so it cannot take
work from the consumer under test. Every call comes from the runner's thread.

`intended_times` reads the point's input topic back after the drain: a foreign consumer
that does not copy `X-Poolbench-Intended-Ns` into its emails is still timed, by the id
the sink found in the subject or body.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from types import TracebackType
from typing import Any, Final, Self

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from poolbench.run.accounting import RetentionSample
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS

log = logging.getLogger(__name__)

_TIMEOUT_S: Final = 5.0
_REASON_HEADER: Final = "error"
# Reading the input topic back gives up after this long (the ids not found stay untimed).
_READ_BACK_S: Final = 60.0


def dead_letter_id(value: bytes | None, headers: list[tuple[str, bytes | None]] | None) -> str:
    """The poolbench id of a dead letter; "" when it carries none."""
    for key, raw in headers or ():
        if key == HEADER_ID and raw:
            return raw.decode("utf-8", "replace")
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return ""
    message = doc.get("message") if isinstance(doc, dict) else None
    found = message.get("id") if isinstance(message, dict) else None
    return found if isinstance(found, str) else ""


def _reason(headers: list[tuple[str, bytes | None]] | None) -> str:
    for key, raw in headers or ():
        if key == _REASON_HEADER and raw:
            return raw.decode("utf-8", "replace")
    return ""


def _intended(headers: list[tuple[str, bytes | None]] | None) -> tuple[str, int] | None:
    found_id = found_ns = None
    for key, raw in headers or ():
        if key == HEADER_ID and raw:
            found_id = raw.decode("utf-8", "replace")
        elif key == HEADER_INTENDED_NS and raw:
            try:
                found_ns = int(raw)
            except ValueError:
                return None
    if found_id is None or found_ns is None:
        return None
    return found_id, found_ns


class PointReader:
    def __init__(
        self, *, bootstrap_servers: str, topic: str, partitions: int, dlq: str, group: str
    ) -> None:
        self._bootstrap = bootstrap_servers
        self.topic = topic
        self.partitions = partitions
        self.dlq = dlq
        self._consumer: Any = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group,
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 10,
                "fetch.queue.backoff.ms": 10,
                "log_level": 2,  # its failures are collected in `errors`, not printed
            }
        )
        self._consumer.assign([TopicPartition(dlq, 0, OFFSET_BEGINNING)])
        self.dead_letters: dict[str, str] = {}
        self.dead_letters_without_id = 0
        self.dead_letters_read = 0
        self.retention: list[RetentionSample] = []
        self.errors: list[str] = []

    def read_dead_letters(self, timeout_s: float = 0.0) -> int:
        """Read what arrived on the dead-letter topic; returns how many so far."""
        try:
            while True:
                batch = self._consumer.consume(1000, timeout=timeout_s)
                if not batch:
                    break
                for msg in batch:
                    if msg.error() is not None:
                        continue
                    self.dead_letters_read += 1
                    headers = msg.headers()
                    dlq_id = dead_letter_id(msg.value(), headers)
                    if dlq_id:
                        self.dead_letters[dlq_id] = _reason(headers)
                    else:
                        self.dead_letters_without_id += 1
                timeout_s = 0.0
        except KafkaException as exc:
            self._error(f"could not read the dead-letter topic: {exc}")
        return self.dead_letters_read

    def dead_letter_high_watermark(self) -> int | None:
        try:
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.dlq, 0), timeout=_TIMEOUT_S, cached=False
            )
        except KafkaException as exc:
            self._error(f"could not read the dead-letter topic's size: {exc}")
            return None
        return int(high)

    def sample_retention(self) -> None:
        """One look at every input partition's low watermark and the group's commit."""
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            committed = {
                tp.partition: (tp.offset if tp.offset >= 0 else None)
                for tp in self._consumer.committed(tps, timeout=_TIMEOUT_S)
            }
            for tp in tps:
                low, _high = self._consumer.get_watermark_offsets(
                    tp, timeout=_TIMEOUT_S, cached=False
                )
                self.retention.append(
                    RetentionSample(
                        partition=tp.partition,
                        low_watermark=int(low),
                        committed=committed.get(tp.partition),
                    )
                )
        except KafkaException as exc:
            self._error(f"could not read the input topic's watermarks: {exc}")

    def committed(self) -> dict[int, int | None] | None:
        """The group's committed offset per input partition (None on a partition: none
        committed); None when the cluster did not answer."""
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            return {
                tp.partition: (tp.offset if tp.offset >= 0 else None)
                for tp in self._consumer.committed(tps, timeout=_TIMEOUT_S)
            }
        except KafkaException as exc:
            self._error(f"could not read the group's committed offsets: {exc}")
            return None

    def drain_dead_letters(self) -> None:
        """Read the dead-letter topic up to its high watermark (bounded)."""
        high = self.dead_letter_high_watermark()
        if high is None:
            return
        for _ in range(50):
            if self.read_dead_letters(0.1) >= high:
                return
        self._error(f"read {self.dead_letters_read} of {high} dead letters; the rest count as lost")

    def intended_times(self, wanted: set[str]) -> dict[str, int]:
        """The intended send time of each id in `wanted`, read from the input topic's
        headers (what is still there: retention may have removed the oldest)."""
        if not wanted:
            return {}
        found: dict[str, int] = {}
        reader: Any = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"{self.topic}-read-back",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,
                "log_level": 3,
            }
        )
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            open_partitions = set()
            for tp in tps:
                low, high = reader.get_watermark_offsets(tp, timeout=_TIMEOUT_S, cached=False)
                if high > low:
                    open_partitions.add(tp.partition)
            reader.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in open_partitions]
            )
            deadline = time.monotonic() + _READ_BACK_S
            while open_partitions and len(found) < len(wanted) and time.monotonic() < deadline:
                for msg in reader.consume(1000, timeout=0.5):
                    error = msg.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            open_partitions.discard(msg.partition())
                        continue
                    pair = _intended(msg.headers())
                    if pair is not None and pair[0] in wanted:
                        found[pair[0]] = pair[1]
        except KafkaException as exc:
            self._error(f"could not read the input topic back: {exc}")
        finally:
            reader.close()
        return found

    def _error(self, text: str) -> None:
        log.debug(text)
        if text not in self.errors:
            self.errors.append(text)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def timed_by_id(receipts: list[Any], reader: PointReader, notes: list[str]) -> list[Any]:
    """Receipts whose email carried an id but no intended time (a foreign consumer that
    does not copy `X-Poolbench-Intended-Ns`) get it from the input topic, by id."""
    untimed = {r.id for r in receipts if r.id and r.intended_ns is None}
    if not untimed:
        return receipts
    found = reader.intended_times(untimed)
    notes.append(
        f"{len(untimed)} emails carried no X-Poolbench-Intended-Ns: their intended send "
        f"time was read back from the topic by their id ({len(found)} found)"
    )
    return [
        dataclasses.replace(r, intended_ns=found[r.id])
        if r.intended_ns is None and r.id in found
        else r
        for r in receipts
    ]
