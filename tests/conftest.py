"""Fixtures shared by every part's tests. Append only: each part adds its own fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poolbench.sink import SinkConfig, SinkServer


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., SinkServer]]:
    """`sink_factory(latency=parse_latency("10ms"), ...)` -> a started SinkServer on port 0.

    Keyword arguments are `SinkConfig` fields; every sink started is stopped at teardown.
    """
    started: list[SinkServer] = []

    def make(**fields: Any) -> SinkServer:
        fields.setdefault("port", 0)
        sink = SinkServer(SinkConfig(**fields)).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()
