"""The embedded Kafka-protocol broker, and helpers that work on any Kafka cluster.

The broker is librdkafka's mock cluster, which ships inside the confluent-kafka wheel and
is driven through ctypes, so nothing has to be installed by hand. Its quirks (FACTS.md):
its AdminClient `create_topics` times out, so topics are created with
`rd_kafka_mock_topic_create`; each partition keeps only about 5 MiB (or 100k batches) and
silently drops older messages, which `broker_drops` detects so that the consumer is never
blamed for it; group (re)joins wait about the session timeout, so `kafka_tuning` keeps it
short and the initial rebalance delay is set to 0.

The mock API is marked experimental: pyproject pins the confluent-kafka range we tested.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from poolbench.errors import ConfigError, UnreachableError, UserError

log = logging.getLogger(__name__)

DEFAULT_TOPICS_SPEC: Final = ("email-queue:8", "email-dlq:1")
_RD_KAFKA_PRODUCER: Final = 0
_ERRSTR_SIZE: Final = 512
# OffsetFetch answers "no committed offset" with this sentinel (librdkafka's OFFSET_INVALID).
_OFFSET_INVALID: Final = -1001


class BrokerError(UserError):
    """The embedded broker could not be started or create a topic (librdkafka missing,
    a topic the mock cluster refuses): the CLI prints one line and exits 2."""


@dataclass(frozen=True, slots=True, kw_only=False)
class TopicSpec:
    """A topic to create: its name and number of partitions."""

    name: str
    partitions: int = 1

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ConfigError(f"--topic: expected a name without spaces, got {self.name!r}")
        if self.partitions < 1:
            raise ConfigError(
                f"--topic: partitions must be at least 1, got {self.name}:{self.partitions}"
            )

    @classmethod
    def parse(cls, text: str) -> TopicSpec:
        """`email-queue:8` (name and partitions) or `email-dlq` (one partition)."""
        name, colon, count = text.strip().partition(":")
        if not colon:
            return cls(name)
        try:
            partitions = int(count)
        except ValueError:
            raise ConfigError(
                f"--topic: expected NAME or NAME:PARTITIONS like 'email-queue:8', got {text!r}"
            ) from None
        return cls(name, partitions)


def default_topics() -> tuple[TopicSpec, ...]:
    return tuple(TopicSpec.parse(text) for text in DEFAULT_TOPICS_SPEC)


def _librdkafka_path() -> str:
    """The librdkafka bundled in the confluent-kafka wheel (the one its C extension uses)."""
    package_dir = os.path.dirname(os.path.abspath(confluent_kafka.__file__))
    pattern = os.path.join(os.path.dirname(package_dir), "confluent_kafka.libs", "librdkafka*.so*")
    candidates = sorted(glob.glob(pattern))
    if not candidates:
        raise BrokerError(
            f"librdkafka not found next to confluent_kafka ({pattern}); the embedded broker "
            "needs the confluent-kafka wheel from PyPI"
        )
    return candidates[0]


def _load_librdkafka() -> ctypes.CDLL:
    lib = ctypes.CDLL(_librdkafka_path())
    # Every pointer-returning function needs c_void_p, or 64-bit pointers get truncated.
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_new.argtypes = []
    lib.rd_kafka_conf_set.restype = ctypes.c_int
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_destroy.restype = None
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_destroy.restype = None
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.restype = None
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_err2str.restype = ctypes.c_char_p
    lib.rd_kafka_err2str.argtypes = [ctypes.c_int]
    return lib


class EmbeddedBroker:
    """librdkafka's mock cluster on 127.0.0.1 (ephemeral ports), as a context manager.

    `bootstrap_servers` is valid between `start()` and `stop()`. Thread-safe enough for
    tests: `create_topic` may be called from any thread while clients use the cluster.
    """

    def __init__(self, brokers: int = 1, topics: Sequence[TopicSpec] = ()) -> None:
        if brokers < 1:
            raise ConfigError(f"--brokers: must be at least 1, got {brokers}")
        self._brokers = brokers
        self._topics = tuple(topics)
        self._lib: ctypes.CDLL | None = None
        self._rk: int | None = None
        self._mc: int | None = None
        self._bootstrap = ""
        self._lock = threading.Lock()

    @property
    def bootstrap_servers(self) -> str:
        if self._mc is None:
            raise RuntimeError("the embedded broker is not running")
        return self._bootstrap

    @property
    def brokers(self) -> int:
        return self._brokers

    def start(self) -> EmbeddedBroker:
        if self._mc is not None:
            return self
        lib = _load_librdkafka()
        conf = lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        # The handle only hosts the mock cluster; keep its own logging quiet.
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, _ERRSTR_SIZE)
        rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)
        if not rk:
            raise BrokerError(f"rd_kafka_new failed: {errstr.value.decode(errors='replace')}")
        mc = lib.rd_kafka_mock_cluster_new(rk, self._brokers)
        if not mc:
            lib.rd_kafka_destroy(rk)
            raise BrokerError("rd_kafka_mock_cluster_new failed")
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0)
        self._lib, self._rk, self._mc = lib, rk, mc
        self._bootstrap = (lib.rd_kafka_mock_cluster_bootstraps(mc) or b"").decode()
        log.info("embedded broker (%d) at %s", self._brokers, self._bootstrap)
        try:
            for topic in self._topics:
                self.create_topic(topic)
        except BaseException:
            self.stop()
            raise
        return self

    def create_topic(self, topic: TopicSpec) -> None:
        """Create a topic on the mock cluster (its AdminClient create_topics times out)."""
        with self._lock:
            if self._lib is None or self._mc is None:
                raise RuntimeError("the embedded broker is not running")
            err = self._lib.rd_kafka_mock_topic_create(
                self._mc, topic.name.encode(), topic.partitions, 1
            )
            if err != 0:
                reason = (self._lib.rd_kafka_err2str(err) or b"").decode()
                raise BrokerError(f"cannot create topic {topic.name}: {reason}")
        log.info("topic %s with %d partition(s)", topic.name, topic.partitions)

    def stop(self) -> None:
        with self._lock:
            lib, mc, rk = self._lib, self._mc, self._rk
            self._lib = self._mc = self._rk = None
        if lib is None:
            return
        if mc:
            lib.rd_kafka_mock_cluster_destroy(mc)
        if rk:
            lib.rd_kafka_destroy(rk)
        log.info("embedded broker stopped")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def kafka_tuning() -> dict[str, str | int]:
    """Consumer settings that keep measured numbers true (FACTS.md).

    librdkafka's defaults add up to 500 ms of fetch wait and 1 s of backoff once its local
    queue fills, which would be charged to the consumer under test; a short session timeout
    makes group (re)joins on the embedded broker take seconds instead of ~45 s.
    """
    return {
        "fetch.wait.max.ms": 10,
        "fetch.queue.backoff.ms": 10,
        "session.timeout.ms": 3000,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 5000,
    }


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


def drops_from_watermarks(
    first_offsets: Mapping[int, int], marks: Mapping[int, tuple[int, int]]
) -> dict[int, int]:
    """Pure: messages at offsets >= first but below the low watermark were dropped."""
    return {
        partition: max(0, marks[partition][0] - first) if partition in marks else 0
        for partition, first in first_offsets.items()
    }


def attribute_broker_drops(
    watermark_drops: int, produced: int, delivered: int, dead_lettered: int
) -> int:
    """Pure: how many of the missing messages the broker's retention accounts for.

    A low watermark above our first offset also counts messages consumed and delivered
    before retention deleted them, so the watermark count is an upper bound; the broker
    can only be blamed for messages that are actually missing.
    """
    missing = max(0, produced - delivered - dead_lettered)
    return min(max(0, watermark_drops), missing)


def broker_drops(
    bootstrap_servers: str, topic: str, first_offsets: Mapping[int, int], timeout: float = 10.0
) -> dict[int, int]:
    """Per partition: how many produced messages the broker dropped (retention, not the consumer).

    `first_offsets` maps a partition to the first offset the load generator produced to it
    (`LoadReport.first_offsets`). A low watermark above it means the broker deleted messages
    the consumer may never have seen.
    """
    return drops_from_watermarks(first_offsets, watermarks(bootstrap_servers, topic, timeout))


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
