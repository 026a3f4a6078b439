"""Helpers that work on any Kafka cluster, embedded or real: topics and offsets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from poolbench.broker.topics import TopicSpec
from poolbench.errors import ConfigError, UnreachableError

log = logging.getLogger(__name__)

# OffsetFetch answers "no committed offset" with this sentinel (librdkafka's OFFSET_INVALID).
_OFFSET_INVALID: Final = -1001


def _admin_config(bootstrap_servers: str, timeout: float) -> dict[str, Any]:
    timeout_ms = max(1, int(timeout * 1000))
    return {
        "bootstrap.servers": bootstrap_servers,
        "socket.timeout.ms": max(10, timeout_ms),
        "socket.connection.setup.timeout.ms": max(1000, timeout_ms),
        "log_level": 2,
        # A metadata request must not create the topic it asks about (the mock would).
        "allow.auto.create.topics": False,
    }


def _unreachable(bootstrap_servers: str, timeout: float, exc: BaseException) -> UnreachableError:
    return UnreachableError(
        f"Kafka at {bootstrap_servers} did not answer within {timeout:g}s ({exc})"
    )


def list_partitions(bootstrap_servers: str, topic: str, timeout: float = 10.0) -> list[int]:
    """The partition ids of `topic`; `UnreachableError` when the cluster does not answer."""
    admin = AdminClient(_admin_config(bootstrap_servers, timeout))
    try:
        metadata = admin.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise _unreachable(bootstrap_servers, timeout, exc) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        reason = found.error if found is not None else "missing"
        raise ConfigError(f"topic {topic} is not available on {bootstrap_servers}: {reason}")
    return sorted(found.partitions)


def ensure_topics(
    bootstrap_servers: str, topics: Sequence[TopicSpec], timeout: float = 10.0
) -> None:
    """Create the topics that a real cluster is missing (existing ones are left alone)."""
    admin = AdminClient(_admin_config(bootstrap_servers, timeout))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise _unreachable(bootstrap_servers, timeout, exc) from exc
    missing = [topic for topic in topics if topic.name not in metadata.topics]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(topic.name, num_partitions=topic.partitions) for topic in missing],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout + 1)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise UnreachableError(
                f"cannot create topic {name} on {bootstrap_servers}: {exc}"
            ) from exc
        except TimeoutError as exc:
            raise _unreachable(bootstrap_servers, timeout, exc) from exc
        log.info("created topic %s on %s", name, bootstrap_servers)


def _offsets_consumer(bootstrap_servers: str, group_id: str, timeout: float) -> Any:
    return Consumer(
        {
            **_admin_config(bootstrap_servers, timeout),
            # Reading offsets never joins the group, so any id works; the caller's id is
            # what makes committed() answer for that group.
            "group.id": group_id,
            "enable.auto.commit": False,
        }
    )


def watermarks(
    bootstrap_servers: str, topic: str, timeout: float = 10.0
) -> dict[int, tuple[int, int]]:
    """Per partition: (low, high) watermark offsets."""
    partitions = list_partitions(bootstrap_servers, topic, timeout)
    consumer = _offsets_consumer(bootstrap_servers, "poolbench-watermarks", timeout)
    try:
        result: dict[int, tuple[int, int]] = {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            result[partition] = (int(low), int(high))
    except KafkaException as exc:
        raise _unreachable(bootstrap_servers, timeout, exc) from exc
    finally:
        consumer.close()
    return result


class CommittedOffsets:
    """Reads a consumer group's committed offsets on one topic, without joining the group."""

    def __init__(self, bootstrap_servers: str, topic: str, group_id: str, timeout: float = 10.0):
        self._timeout = timeout
        self._bootstrap = bootstrap_servers
        self._partitions = [
            TopicPartition(topic, p) for p in list_partitions(bootstrap_servers, topic, timeout)
        ]
        self._consumer = _offsets_consumer(bootstrap_servers, group_id, timeout)

    def read(self) -> dict[int, int | None]:
        """Partition -> committed offset, or None where the group has not committed yet."""
        try:
            answer = self._consumer.committed(self._partitions, timeout=self._timeout)
        except KafkaException as exc:
            raise _unreachable(self._bootstrap, self._timeout, exc) from exc
        return {
            tp.partition: (None if tp.offset == _OFFSET_INVALID or tp.offset < 0 else tp.offset)
            for tp in answer
        }

    def close(self) -> None:
        self._consumer.close()


def wait_for_stop(stop: threading.Event, *, interval: float = 0.2) -> None:
    """Block until `stop` is set, in a short polling loop.

    A signal may be delivered to one of librdkafka's threads; Python then runs its handler
    in the main thread only when that thread next executes bytecode, so never block on a
    wait without a timeout.
    """
    while not stop.wait(interval):
        pass
