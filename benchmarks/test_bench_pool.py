"""Cost per job of the worker pool beside a bare asyncio.Queue loop, in the same run.

Each round pushes JOBS no-op jobs through (submit with backpressure -> run -> result) and
waits until the last one is done. Both sides start their workers once per benchmark, in
one event loop, with the same queue bound. Goal: the pool costs at most 2x the bare loop
per job, and runs at least 100,000 no-op jobs/s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.pool import WorkerPool

JOBS = 10_000
BUFFER = 1_000
ROUNDS = 15


async def noop() -> None:
    return None


class Countdown:
    """Counts finished jobs; sets an event when the round's last one is done."""

    def __init__(self) -> None:
        self.left = 0
        self.done = asyncio.Event()

    def arm(self, count: int) -> None:
        self.left = count
        self.done.clear()

    def tick(self, _result: object = None) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def pool_side(
    workers: int, countdown: Countdown
) -> AsyncGenerator[Callable[[], Awaitable[None]], None]:
    pool = WorkerPool(workers, BUFFER, on_result=countdown.tick)
    await pool.start()

    async def one_round() -> None:
        countdown.arm(JOBS)
        for _ in range(JOBS):
            await pool.submit(noop)
        await countdown.done.wait()

    try:
        yield one_round
    finally:
        await pool.stop()


async def bare_side(
    workers: int, countdown: Countdown
) -> AsyncGenerator[Callable[[], Awaitable[None]], None]:
    queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue(BUFFER)

    async def worker() -> None:
        while True:
            job = await queue.get()
            await job()
            countdown.tick()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(0)

    async def one_round() -> None:
        countdown.arm(JOBS)
        for _ in range(JOBS):
            await queue.put(noop)
        await countdown.done.wait()

    try:
        yield one_round
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


SIDES = {"pool": pool_side, "bare_queue": bare_side}


@pytest.mark.parametrize("side", ["pool", "bare_queue"])
@pytest.mark.parametrize("workers", [1, 10, 1000])
def test_bench_jobs(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, workers: int, side: str
) -> None:
    benchmark.group = f"pool: {JOBS} no-op jobs, {workers} workers, buffer {BUFFER}"
    countdown = Countdown()
    driver = SIDES[side](workers, countdown)
    one_round = loop.run_until_complete(anext(driver))
    try:
        benchmark.pedantic(  # type: ignore[no-untyped-call]
            lambda: loop.run_until_complete(one_round()), rounds=ROUNDS, warmup_rounds=2
        )
    finally:
        loop.run_until_complete(driver.aclose())
    assert countdown.left == 0
    assert benchmark.stats is not None
    per_job_us = benchmark.stats.stats.median / JOBS * 1e6
    benchmark.extra_info["per_job_us"] = round(per_job_us, 3)
    benchmark.extra_info["jobs_per_s"] = round(JOBS / benchmark.stats.stats.median)
