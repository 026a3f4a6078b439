"""Every sink behaviour test runs against both SMTP engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poolbench.sink import SinkConfig, SinkServer


@pytest.fixture(params=["fast", "aiosmtpd"])
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test; `sink_factory` starts its sinks with it."""
    value: str = request.param
    return value


@pytest.fixture
def sink_factory(engine: str) -> Iterator[Callable[..., SinkServer]]:
    """`sink_factory(latency=..., ...)` -> a started SinkServer on port 0 with `engine`.

    Keyword arguments are `SinkConfig` fields; every sink started is stopped at teardown.
    """
    started: list[SinkServer] = []

    def make(**fields: Any) -> SinkServer:
        fields.setdefault("port", 0)
        fields.setdefault("engine", engine)
        sink = SinkServer(SinkConfig(**fields)).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()
