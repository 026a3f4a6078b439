from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.consumer.smtp_server import (
    HOST,
    CertFiles,
    Handler,
    PortZeroController,
    make_self_signed,
)

StartServer = Callable[..., PortZeroController]


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts aiosmtpd servers on port 0 (keyword arguments go to the Controller); stops all."""
    started: list[PortZeroController] = []

    def start(handler: Handler, **kwargs: Any) -> PortZeroController:
        controller = PortZeroController(
            handler, hostname=HOST, port=0, server_hostname="sink.test", **kwargs
        )
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        if controller._thread is not None:  # a test may have stopped it already
            controller.stop()


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def server(start_server: StartServer, handler: Handler) -> PortZeroController:
    return start_server(handler)


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port
