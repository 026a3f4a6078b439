"""A relay in front of each mock broker, so a fetch is answered as a real broker would.

librdkafka's mock cluster holds a Fetch that finds no data for the request's whole
MaxWaitTime: it cannot wake the request when data arrives, where a real broker answers
as soon as there is data. A client with librdkafka's default `fetch.wait.max.ms` (500)
would then wait up to 500 ms per email in the broker, charged to the consumer under test.

Each mock broker advertises the address of its relay (`rd_kafka_mock_broker_set_host_port`),
so every client connection goes through one. The relay reads the client's requests frame
by frame and lowers the MaxWaitTime of each Fetch to `FETCH_WAIT_CAP_MS`, the setting
poolbench gives its own consumer (`kafka_tuning`): every client, ours or foreign, waits
at most that long for data, whatever it asked for. Every other byte passes unchanged.

The relay also notes which topics each consumer group subscribes to, from the JoinGroup
requests it passes on (`joined_topics`): a consumer that never receives an email can then
be told apart from one subscribed to the wrong topic, from what its client actually said.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from typing import Final

log = logging.getLogger(__name__)

FETCH_WAIT_CAP_MS: Final = 10
_FETCH_API_KEY: Final = 1
_JOIN_GROUP_API_KEY: Final = 11
# JoinGroup v6 and later are flexible (compact strings and arrays, tagged fields).
_JOIN_FLEXIBLE_FROM: Final = 6
# Fetch v12 and later use the flexible request header (with tagged fields); v15 and
# later drop ReplicaId, so MaxWaitMs comes first in the body.
_FLEXIBLE_FROM: Final = 12
_NO_REPLICA_ID_FROM: Final = 15
_MAX_FRAME: Final = 100 * 1024 * 1024
_CHUNK: Final = 65536


def _uvarint(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """An unsigned varint at `at`: (value, offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def max_wait_offset(frame: bytes | bytearray) -> int | None:
    """Where a Fetch request's MaxWaitMs (int32) sits in `frame` (the request without its
    size prefix); None for any other request or one that does not parse."""
    try:
        api_key, version = struct.unpack_from(">hh", frame, 0)
        if api_key != _FETCH_API_KEY:
            return None
        (client_id_len,) = struct.unpack_from(">h", frame, 8)
        at = 10 + max(0, client_id_len)
        if version >= _FLEXIBLE_FROM:
            tags, at = _uvarint(frame, at)
            for _ in range(tags):
                _tag, at = _uvarint(frame, at)
                size, at = _uvarint(frame, at)
                at += size
        if version < _NO_REPLICA_ID_FROM:
            at += 4
        return at if at + 4 <= len(frame) else None
    except (struct.error, IndexError):
        return None


class _Reader:
    """Reads Kafka's primitive types from a request, in the classic or compact encoding."""

    def __init__(self, data: bytes | bytearray, at: int, *, compact: bool) -> None:
        self.data, self.at, self.compact = data, at, compact

    def skip(self, size: int) -> None:
        self.at += size

    def int16(self) -> int:
        (value,) = struct.unpack_from(">h", self.data, self.at)
        self.at += 2
        return int(value)

    def int32(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.at)
        self.at += 4
        return int(value)

    def _length(self) -> int:
        if self.compact:
            value, self.at = _uvarint(self.data, self.at)
            return value - 1
        return self.int16()

    def string(self) -> str | None:
        size = self._length()
        if size < 0:
            return None
        text = bytes(self.data[self.at : self.at + size]).decode("utf-8", "replace")
        self.at += size
        return text

    def count(self) -> int:
        if self.compact:
            value, self.at = _uvarint(self.data, self.at)
            return value - 1
        return self.int32()

    def bytes_(self) -> bytes:
        size = self.count()
        value = bytes(self.data[self.at : self.at + max(0, size)])
        self.at += max(0, size)
        return value

    def tags(self) -> None:
        if not self.compact:
            return
        tags, self.at = _uvarint(self.data, self.at)
        for _ in range(tags):
            _tag, self.at = _uvarint(self.data, self.at)
            size, self.at = _uvarint(self.data, self.at)
            self.at += size


def _subscription_topics(metadata: bytes) -> list[str]:
    """The topics of a consumer protocol's subscription (ConsumerProtocolSubscription)."""
    reader = _Reader(metadata, 0, compact=False)
    reader.int16()  # its version: v0-v3 share the topics' encoding
    return [name for _ in range(reader.int32()) if (name := reader.string())]


def join_group_topics(frame: bytes | bytearray) -> tuple[str, frozenset[str]] | None:
    """(group, subscribed topics) of a consumer's JoinGroup request; None for any other
    request or one that does not parse."""
    try:
        api_key, version = struct.unpack_from(">hh", frame, 0)
        if api_key != _JOIN_GROUP_API_KEY:
            return None
        compact = version >= _JOIN_FLEXIBLE_FROM
        header = _Reader(frame, 8, compact=False)
        header.string()  # client id: never compact
        body = _Reader(frame, header.at, compact=compact)
        body.tags()
        group = body.string()
        body.skip(4)  # session timeout
        if version >= 1:
            body.skip(4)  # rebalance timeout
        body.string()  # member id
        if version >= 5:
            body.string()  # group instance id
        if body.string() != "consumer" or not group:
            return None
        topics: set[str] = set()
        for _ in range(body.count()):
            body.string()  # the assignor's name
            topics.update(_subscription_topics(body.bytes_()))
            body.tags()
        return group, frozenset(topics)
    except (struct.error, IndexError, UnicodeDecodeError):
        return None


def cap_fetch_wait(frame: bytearray, cap_ms: int = FETCH_WAIT_CAP_MS) -> bool:
    """Lower a Fetch request's MaxWaitMs to `cap_ms` in place; True if it changed."""
    at = max_wait_offset(frame)
    if at is None:
        return False
    (wait_ms,) = struct.unpack_from(">i", frame, at)
    if wait_ms <= cap_ms:
        return False
    struct.pack_into(">i", frame, at, cap_ms)
    return True


def _read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            return None
        got += n
    return buffer


class FetchRelay:
    """Listens on 127.0.0.1 (an ephemeral port) and relays each connection to `target`."""

    def __init__(self, target: tuple[str, int], cap_ms: int = FETCH_WAIT_CAP_MS) -> None:
        self._target = target
        self._joined: dict[str, frozenset[str]] = {}
        self._cap_ms = cap_ms
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="fetch-relay", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def joined_topics(self, group: str) -> frozenset[str] | None:
        """The topics `group`'s JoinGroup requests subscribed to; None: none seen."""
        with self._lock:
            return self._joined.get(group)

    def start(self) -> FetchRelay:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            open_now, self._open = list(self._open), set()
        for sock in open_now:
            _close(sock)
        self._thread.join(5.0)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError as exc:
                log.warning("relay: cannot reach the mock broker at %s: %s", self._target, exc)
                _close(client)
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._open.update((client, upstream))
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to broker, frame by frame, each Fetch's wait capped."""
        try:
            while True:
                head = _read_exactly(client, 4)
                if head is None:
                    break
                (size,) = struct.unpack(">i", head)
                if not 0 <= size <= _MAX_FRAME:
                    log.warning("relay: a request frame of %d bytes: connection closed", size)
                    break
                frame = _read_exactly(client, size)
                if frame is None:
                    break
                if not cap_fetch_wait(frame, self._cap_ms):
                    joined = join_group_topics(frame)
                    if joined is not None:
                        group, topics = joined
                        with self._lock:
                            self._joined[group] = self._joined.get(group, frozenset()) | topics
                upstream.sendall(head + frame)
        except OSError:
            pass
        finally:
            self._end(client, upstream)

    def _copy(self, upstream: socket.socket, client: socket.socket) -> None:
        """Broker to client, unchanged."""
        try:
            while True:
                data = upstream.recv(_CHUNK)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            self._end(client, upstream)

    def _end(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self._open.discard(client)
            self._open.discard(upstream)
        _close(client)
        _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
