"""The embedded Kafka-protocol broker: librdkafka's mock cluster, driven through ctypes.

The mock cluster ships inside the confluent-kafka wheel, so nothing has to be installed
by hand. Its quirks: its AdminClient `create_topics` times out, so topics are created
with `rd_kafka_mock_topic_create` (which only works in the process that hosts the
cluster: `BrokerProcess` offers it over a control channel); each partition keeps only
about 5 MiB (or 100k batches) and silently drops older messages; group (re)joins wait
about the session timeout, so the initial rebalance delay is set to 0. Its listeners bind
ephemeral ports only: `rd_kafka_mock_broker_set_host_port` changes the address a broker
advertises in metadata, not the port it listens on; the mock holds a fetch that finds no
data for the client's whole `fetch.wait.max.ms`, so each broker advertises a relay
(`poolbench.broker.relay`) that caps that wait, and the bootstrap servers are the relays'.

The mock API is marked experimental: pyproject pins the confluent-kafka range we tested.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Final

import confluent_kafka

from poolbench.broker.relay import FetchRelay
from poolbench.broker.topics import TopicSpec
from poolbench.errors import BrokerError, ConfigError

log = logging.getLogger(__name__)

_RD_KAFKA_PRODUCER: Final = 0
_ERRSTR_SIZE: Final = 512


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
    lib.rd_kafka_mock_broker_set_host_port.restype = ctypes.c_int
    lib.rd_kafka_mock_broker_set_host_port.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_char_p,
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
            raise ConfigError("must be at least 1", what="brokers", got=brokers)
        self._brokers = brokers
        self._topics = tuple(topics)
        self._lib: ctypes.CDLL | None = None
        self._rk: int | None = None
        self._mc: int | None = None
        self._bootstrap = ""
        self._relays: list[FetchRelay] = []
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
        try:
            self._bootstrap = self._start_relays(lib, mc)
            log.info("embedded broker (%d) at %s", self._brokers, self._bootstrap)
            for topic in self._topics:
                self.create_topic(topic)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_relays(self, lib: ctypes.CDLL, mc: int) -> str:
        """A relay per broker, advertised in its place; the relays' bootstrap servers."""
        listeners = (lib.rd_kafka_mock_cluster_bootstraps(mc) or b"").decode().split(",")
        if len(listeners) != self._brokers:
            raise BrokerError(f"the mock cluster lists {listeners!r} for {self._brokers} brokers")
        # The mock numbers its brokers from 1, in the order of its bootstrap list.
        for broker_id, listener in enumerate(listeners, start=1):
            host, _, port = listener.rpartition(":")
            relay = FetchRelay((host, int(port))).start()
            self._relays.append(relay)
            err = lib.rd_kafka_mock_broker_set_host_port(mc, broker_id, b"127.0.0.1", relay.port)
            if err != 0:
                reason = (lib.rd_kafka_err2str(err) or b"").decode()
                raise BrokerError(f"cannot advertise a relay for broker {broker_id}: {reason}")
        return ",".join(relay.address for relay in self._relays)

    def joined_topics(self, group: str) -> frozenset[str] | None:
        """The topics `group`'s members subscribed to when they joined (seen by the relays);
        None when no member of it joined."""
        with self._lock:
            relays = list(self._relays)
        seen = [found for relay in relays if (found := relay.joined_topics(group)) is not None]
        return frozenset().union(*seen) if seen else None

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
            relays, self._relays = self._relays, []
        for relay in relays:
            relay.close()
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
