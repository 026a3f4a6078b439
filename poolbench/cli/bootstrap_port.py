"""`poolbench broker --port`: a fixed bootstrap port in front of the mock cluster.

librdkafka's mock cluster listens on ephemeral ports only. A forwarder on the chosen port
relays each connection to the cluster's bootstrap address, so clients can be pointed at
a port known in advance (the consumer's default `localhost:9093`, say). The cluster's
metadata still advertises its own ports, which clients on this machine reach directly.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading

from poolbench.errors import ConfigError

log = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (before the broker starts); a `ConfigError` when the
    port is taken."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((host, port))
        server.listen(64)
    except OSError as exc:
        server.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return server


class Forwarder:
    """Relays every connection accepted on `server` to `target` (host:port), in threads."""

    def __init__(self, server: socket.socket, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._server = server
        self._target = (host, int(port))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="bootstrap-port", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> Forwarder:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError as exc:
            log.warning("bootstrap port: cannot reach the broker at %s: %s", self._target, exc)
            client.close()
            return
        upstream.settimeout(None)
        with client, upstream, selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while not self._closed.is_set():
                for key, _ in selector.select(timeout=0.5):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
                    except OSError:
                        return
