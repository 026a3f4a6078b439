"""The sink reports how late its event loop ran (the error bar on its stamps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from poolbench.sink import SinkServer
from tests.sink.clients import client, message


async def _send(sink: SinkServer, n: int) -> None:
    for i in range(n):
        async with client(sink) as smtp:
            await smtp.sendmail("a@example.com", ["b@example.com"], message(f"lag-{i}"))


@pytest.mark.parametrize("processes", [1, 2])
def test_the_sink_reports_its_loop_lag_once_serving(
    sink_factory: Callable[..., SinkServer], processes: int
) -> None:
    sink = sink_factory(processes=processes)
    assert sink.loop_lag() is None  # the probe starts with the first connection
    asyncio.run(_send(sink, 4 * processes))
    time.sleep(0.3)  # ~30 probe ticks per process
    lag = sink.loop_lag()
    assert lag is not None
    assert lag.samples >= 10
    assert lag.p50_ms <= lag.p99_ms <= lag.max_ms
    counters = sink.counters()
    assert counters.received == 4 * processes  # the lag keys did not disturb the counters
    final = sink.stop()
    assert final.received == 4 * processes
