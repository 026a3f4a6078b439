"""Checks a run makes before any part of it starts: is the scenario's Kafka cluster there?

An unreachable or unresolvable broker must be one line and exit 2 (`UnreachableError`)
within the broker timeout, before any consumer starts and before a results folder is
made. Three steps, each one as cheap as it can be: every host name resolves, at least
one bootstrap server accepts a TCP connection (a refused port fails at once, not after
librdkafka's retries), and the cluster answers a metadata request.
"""

from __future__ import annotations

import socket
import time
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from poolbench.errors import UnreachableError

# The same time `broker.ensure_topics` gives a cluster to answer.
BROKER_TIMEOUT_S: Final = 10.0
DEFAULT_PORT: Final = 9092


def split_servers(bootstrap_servers: str) -> list[tuple[str, int]]:
    """`host:port,host` -> [(host, port)], the port 9092 where none is given (as
    librdkafka reads it); an IPv6 host is bracketed."""
    servers = []
    for item in bootstrap_servers.split(","):
        text = item.strip()
        if not text:
            continue
        host, colon, port = text.rpartition(":")
        if not colon or (":" in host and not host.startswith("[")):
            host, port = text, str(DEFAULT_PORT)
        if not port.isdigit() or not host:
            raise UnreachableError(f"Kafka bootstrap server {text!r} is not HOST:PORT")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise UnreachableError("no Kafka bootstrap server given")
    return servers


def check_cluster(bootstrap_servers: str, timeout_s: float = BROKER_TIMEOUT_S) -> None:
    """Return once the cluster at `bootstrap_servers` answers; else `UnreachableError`
    naming the server and why, within about `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    servers = split_servers(bootstrap_servers)
    reasons = []
    for host, port in servers:
        reason = _tcp_reason(host, port, max(0.1, deadline - time.monotonic()))
        if reason is None:
            break
        reasons.append(f"{host}:{port}: {reason}")
    else:
        raise UnreachableError(
            f"Kafka at {bootstrap_servers} is unreachable ({'; '.join(reasons)})"
        )
    left = max(1.0, deadline - time.monotonic())
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "socket.timeout.ms": int(left * 1000),
            "socket.connection.setup.timeout.ms": max(1000, int(left * 1000)),
            "log_level": 2,
        }
    )
    try:
        admin.list_topics(timeout=left)
    except KafkaException as exc:
        raise UnreachableError(
            f"Kafka at {bootstrap_servers} did not answer within {timeout_s:g}s ({exc})"
        ) from exc


def _tcp_reason(host: str, port: int, timeout_s: float) -> str | None:
    """None when `host:port` accepts a TCP connection; else why not, in words."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror or exc}"
    last = "no address"
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
            except TimeoutError:
                last = f"no answer within {timeout_s:.0f}s"
            except OSError as exc:
                last = (exc.strerror or str(exc)).lower()
            else:
                return None
    return last
