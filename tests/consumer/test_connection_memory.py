"""Memory per open SMTP connection of the lean client, counted with tracemalloc.

With a new connection per email, every worker holds one: at 1,000 workers each 100
bytes per connection is 0.1 MB, twice over while the closed one is being released. The
sink runs in a child process, so only the client's allocations are traced.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from poolbench.consumer.service import new_event_loop
from poolbench.consumer.smtp_client import LeanSmtpConnection
from poolbench.sink import SinkConfig, SinkServer

CONNECTIONS = 200
# Measured 1.69 KB on uvloop, of which uvloop's transport is ~1.2 KB; a deque of replies
# (740 bytes) or a kept reply future (144 bytes) per connection would break the bound.
MAX_BYTES_PER_CONNECTION = 2000


@pytest.fixture
def sink() -> Iterator[SinkServer]:
    with SinkServer(SinkConfig(port=0, isolated=True)) as server:
        yield server


def test_an_open_lean_connection_holds_under_2_kb(sink: SinkServer) -> None:
    async def measure() -> float:
        async def one() -> LeanSmtpConnection:
            return await LeanSmtpConnection.open(
                sink.host, sink.port, local_hostname="client.test", timeout_s=10.0
            )

        (await one()).close()  # warm up: first-use caches are not per connection
        await asyncio.sleep(0.05)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            connections = [await one() for _ in range(CONNECTIONS)]
            assert all(c.is_connected for c in connections)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        for connection in connections:
            await connection.quit()
        return held / CONNECTIONS

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        per_connection = runner.run(measure())
    assert 0 < per_connection <= MAX_BYTES_PER_CONNECTION, per_connection
