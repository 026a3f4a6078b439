from __future__ import annotations

import socket

import pytest

from poolbench.errors import UnreachableError
from poolbench.run.preflight import check_cluster, split_servers


def test_servers_are_split_with_kafkas_default_port() -> None:
    assert split_servers("a:1, b") == [("a", 1), ("b", 9092)]
    assert split_servers("[::1]:9093") == [("::1", 9093)]
    with pytest.raises(UnreachableError, match="not HOST:PORT"):
        split_servers("a:b")
    with pytest.raises(UnreachableError, match="no Kafka bootstrap server"):
        split_servers(" , ")


def test_a_refused_port_fails_at_once_naming_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}: connection refused"):
            check_cluster(f"127.0.0.1:{port}", timeout_s=5)


def test_a_port_that_is_not_kafka_does_not_answer_within_the_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UnreachableError, match="did not answer within 1s"):
            check_cluster(f"127.0.0.1:{port}", timeout_s=1)
