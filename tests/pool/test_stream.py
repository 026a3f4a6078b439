from __future__ import annotations

import asyncio

import pytest

from poolbench.errors import ConfigError
from poolbench.pool import Result, WorkerPool
from poolbench.pool.stream import ResultStream


def make_result(job_id: int) -> Result:
    return Result(
        job_id=job_id, success=True, error=None, cancelled=False, queue_wait_s=0.0, run_s=0.0
    )


async def test_a_full_stream_drops_the_oldest_and_counts() -> None:
    stream = ResultStream(2, lambda _: None)
    for i in range(5):
        stream.push(make_result(i))
    stream.end()
    assert [r.job_id async for r in stream] == [3, 4]
    assert stream.dropped == 3


async def test_a_waiting_reader_wakes_on_push() -> None:
    stream = ResultStream(10, lambda _: None)
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0)
    assert not reader.done()
    stream.push(make_result(7))
    assert (await reader).job_id == 7


async def test_close_detaches_from_the_pool() -> None:
    async with WorkerPool(1, 1) as pool:
        stream = pool.results()
        stream.close()

        async def job() -> None:
            return None

        pool.submit_nowait(job)
    assert [r async for r in stream] == []
    assert pool.stats.succeeded == 1


@pytest.mark.parametrize("maxlen", [0, -1, True])
def test_invalid_maxlen(maxlen: int) -> None:
    with pytest.raises(ConfigError, match="maxlen must be at least 1"):
        ResultStream(maxlen, lambda _: None)
