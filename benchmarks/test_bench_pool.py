"""Cost per job of the worker pool beside a bare asyncio.Queue loop, in the same run.

Each round pushes JOBS no-op jobs through (submit with backpressure -> run -> result) and
waits until the last one is done. Every side starts its workers once per benchmark, in
one event loop, with the same queue bound. Goal: the pool costs at most 2x the bare loop
per job, and runs at least 100,000 no-op jobs/s.

The pool with priority lanes runs too: `pool_lanes` puts every job in the normal lane (the
lanes' own cost per job), `pool_lanes_mixed` cycles high, normal, low (the round robin and
per-lane backpressure at work; the low lane's small share of the buffer makes the
submitter wait more often). `pool` (no lanes) must stay as fast as before lanes existed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.pool import LANES, Lane, LaneConfig, WorkerPool

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


async def lanes_side(
    workers: int, countdown: Countdown, *, mixed: bool
) -> AsyncGenerator[Callable[[], Awaitable[None]], None]:
    # All in normal: the normal lane gets the whole buffer, as the pool without lanes has,
    # so that only the lanes' cost differs. Mixed: the default shares of the buffer.
    config = LaneConfig() if mixed else LaneConfig(buffers=(BUFFER, BUFFER, BUFFER))
    pool = WorkerPool(workers, BUFFER, on_result=countdown.tick, lanes=config)
    await pool.start()
    lanes = [LANES[i % len(LANES)] if mixed else Lane.NORMAL for i in range(JOBS)]

    async def one_round() -> None:
        countdown.arm(JOBS)
        for lane in lanes:
            await pool.submit(noop, lane=lane)
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


def lanes_normal_side(
    workers: int, countdown: Countdown
) -> AsyncGenerator[Callable[[], Awaitable[None]], None]:
    return lanes_side(workers, countdown, mixed=False)


def lanes_mixed_side(
    workers: int, countdown: Countdown
) -> AsyncGenerator[Callable[[], Awaitable[None]], None]:
    return lanes_side(workers, countdown, mixed=True)


SIDES = {
    "pool": pool_side,
    "bare_queue": bare_side,
    "pool_lanes": lanes_normal_side,
    "pool_lanes_mixed": lanes_mixed_side,
}


@pytest.mark.parametrize("side", list(SIDES))
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
