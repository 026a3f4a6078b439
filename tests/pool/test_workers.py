"""The worker pool against the seed's tests and its known defects.

Orders are made deterministic with asyncio.Event-gated jobs; no test depends on speed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import poolbench.pool as pool_module
from poolbench.errors import InvalidPoolSizeError, PoolClosedError, QueueFullError
from poolbench.metrics.clock import ManualClock
from poolbench.pool import Result, WorkerPool

LOGGER = "poolbench.pool"


class Recorder:
    """An on_result callback that keeps every result and can wait for a count."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self._wanted = 0
        self._reached = asyncio.Event()

    def __call__(self, result: Result) -> None:
        self.results.append(result)
        if self._wanted and len(self.results) >= self._wanted:
            self._reached.set()

    async def wait_for(self, count: int) -> None:
        self._wanted = count
        if len(self.results) >= count:
            return
        await asyncio.wait_for(self._reached.wait(), timeout=30)


def gated(gate: asyncio.Event, value: object = None) -> Callable[[], Awaitable[object]]:
    async def job() -> object:
        await gate.wait()
        return value

    return job


def returning(value: object) -> Callable[[], Awaitable[object]]:
    async def job() -> object:
        return value

    return job


def room(pool: WorkerPool) -> bool:
    """Read has_room through a call, so that mypy does not narrow it between reads."""
    return pool.has_room


async def settle() -> None:
    """Let every ready callback and task step run (a few loop turns, no wall clock)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def pool3(recorder: Recorder) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(3, 10, on_result=recorder)
    await pool.start()
    yield pool
    await pool.stop(timeout=0)


# ---- the seed's tests -------------------------------------------------------------------


async def test_basic_functionality(pool3: WorkerPool, recorder: Recorder) -> None:
    for i in range(10):
        pool3.submit_nowait(returning(i * i))
    await recorder.wait_for(10)
    assert sorted(r.value for r in recorder.results) == [i * i for i in range(10)]  # type: ignore[type-var]
    assert all(r.success and r.error is None and not r.cancelled for r in recorder.results)
    assert sorted(r.job_id for r in recorder.results) == list(range(1, 11))  # type: ignore[type-var]
    stats = pool3.stats
    assert (stats.submitted, stats.succeeded, stats.queued, stats.running) == (10, 10, 0, 0)


async def test_job_objects_keep_their_id() -> None:
    class EmailJob:
        def __init__(self, job_id: str) -> None:
            self.id = job_id
            self.ran = False

        async def execute(self) -> None:
            self.ran = True

    recorder = Recorder()
    jobs = [EmailJob(f"m-{i}") for i in range(4)]
    async with WorkerPool(2, 4, on_result=recorder) as pool:
        for job in jobs:
            pool.submit_nowait(job)
        await recorder.wait_for(4)
    assert sorted(str(r.job_id) for r in recorder.results) == ["m-0", "m-1", "m-2", "m-3"]
    assert all(job.ran for job in jobs)


async def test_error_handling_keeps_the_worker(recorder: Recorder) -> None:
    async def boom() -> None:
        raise ValueError("smtp said no")

    async with WorkerPool(1, 5, on_result=recorder) as pool:
        pool.submit_nowait(boom)
        pool.submit_nowait(returning("after"))
        await recorder.wait_for(2)
    first, second = recorder.results
    assert not first.success and isinstance(first.error, ValueError) and not first.cancelled
    assert second.success and second.value == "after"
    assert (pool.stats.failed, pool.stats.succeeded) == (1, 1)


async def test_graceful_shutdown_waits_for_queued_and_running(recorder: Recorder) -> None:
    gate = asyncio.Event()
    pool = WorkerPool(2, 10, on_result=recorder)
    await pool.start()
    for i in range(6):
        pool.submit_nowait(gated(gate, i))
    stopping = asyncio.create_task(pool.stop(timeout=None))
    await settle()
    assert not stopping.done()
    with pytest.raises(PoolClosedError):
        pool.submit_nowait(returning(0))
    gate.set()
    summary = await stopping
    assert (summary.finished, summary.abandoned, summary.timed_out) == (6, 0, False)
    assert sorted(r.value for r in recorder.results) == list(range(6))  # type: ignore[type-var]
    assert await pool.stop() == summary  # stopping twice: the same summary


async def test_concurrent_submission(recorder: Recorder) -> None:
    async with WorkerPool(4, 3, on_result=recorder) as pool:

        async def producer(base: int) -> None:
            for i in range(25):
                await pool.submit(returning(base + i))

        await asyncio.gather(*(producer(p * 100) for p in range(40)))
        await recorder.wait_for(1000)
    values = sorted(r.value for r in recorder.results)  # type: ignore[type-var]
    assert values == sorted(p * 100 + i for p in range(40) for i in range(25))
    assert pool.stats.submitted == 1000 and pool.stats.rejected == 0


async def test_full_queue_rejects_and_logs_once_per_episode(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    gate = asyncio.Event()
    async with WorkerPool(1, 2, on_result=recorder) as pool:
        for _ in range(3):  # one runs, two wait in the buffer
            pool.submit_nowait(gated(gate))
        await settle()
        assert not room(pool)
        for _ in range(5):
            with pytest.raises(QueueFullError):
                pool.submit_nowait(returning(0))
        assert pool.stats.rejected == 5
        full_logs = [r for r in caplog.records if "Worker pool job queue is full" in r.message]
        assert len(full_logs) == 1
        gate.set()
        await recorder.wait_for(3)
        assert room(pool)
        gate.clear()
        for _ in range(3):
            pool.submit_nowait(gated(gate))
        await settle()
        with pytest.raises(QueueFullError):
            pool.submit_nowait(returning(0))
        full_logs = [r for r in caplog.records if "Worker pool job queue is full" in r.message]
        assert len(full_logs) == 2  # a second episode
        gate.set()
    assert pool.stats.submitted == 6 and pool.stats.succeeded == 6


# ---- beyond the seed: its defects and our additions -------------------------------------


@pytest.mark.timeout(60)
async def test_unread_results_never_stall() -> None:
    pool = WorkerPool(4, 16)
    await pool.start()
    stream = pool.results(maxlen=100)  # opened, never read
    for i in range(10_000):
        await pool.submit(returning(i))
    summary = await pool.stop(timeout=None)
    assert summary.finished == 10_000 and not summary.timed_out
    assert stream.dropped == 9_900
    kept = [r.value async for r in stream]
    assert len(kept) == 100 and kept[-1] in range(9_000, 10_000)


async def test_results_stream_yields_then_ends_after_stop() -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 5)
    await pool.start()
    stream = pool.results()
    for i in range(3):
        pool.submit_nowait(gated(gate, i))
    gate.set()
    got = [await anext(stream) for _ in range(3)]
    assert [r.value for r in got] == [0, 1, 2]
    await pool.stop()
    assert [r async for r in stream] == []
    assert [r async for r in pool.results()] == []  # opened after stop: ends at once


async def test_shutdown_timeout_abandons_and_reports(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    never = asyncio.Event()
    pool = WorkerPool(2, 5, on_result=recorder)
    await pool.start()
    pool.submit_nowait(returning("quick"))
    for _ in range(5):  # two run forever, three wait behind them
        pool.submit_nowait(gated(never))
    await settle()
    summary = await pool.stop(timeout=0.05)
    assert summary.timed_out
    assert (summary.finished, summary.abandoned) == (1, 5)
    assert sum(r.cancelled for r in recorder.results) == 5
    assert sum(r.cancelled and r.run_s == 0.0 for r in recorder.results) == 3
    stats = summary.stats
    assert (stats.queued, stats.running, stats.cancelled, stats.succeeded) == (0, 0, 5, 1)
    messages = [r.message for r in caplog.records]
    assert any("Worker pool shutdown timeout" in m for m in messages)
    assert messages[-1] == "Worker pool stopped"


async def test_job_that_cancels_itself_is_reported_and_worker_survives(
    recorder: Recorder,
) -> None:
    async def gives_up() -> None:
        raise asyncio.CancelledError

    async with WorkerPool(1, 5, on_result=recorder) as pool:
        pool.submit_nowait(gives_up)
        pool.submit_nowait(returning("next"))
        await recorder.wait_for(2)
    assert recorder.results[0].cancelled and not recorder.results[0].success
    assert recorder.results[1].success and recorder.results[1].value == "next"
    assert (pool.stats.cancelled, pool.stats.succeeded) == (1, 1)


async def test_cancelling_the_context_cancels_running_jobs(recorder: Recorder) -> None:
    never = asyncio.Event()
    entered = asyncio.Event()
    pools: list[WorkerPool] = []

    async def service() -> None:
        async with WorkerPool(2, 5, on_result=recorder) as pool:
            pools.append(pool)
            for _ in range(3):
                pool.submit_nowait(gated(never))
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(service())
    await entered.wait()
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(recorder.results) == 3 and all(r.cancelled for r in recorder.results)
    stats = pools[0].stats
    assert (stats.running, stats.queued, stats.cancelled) == (0, 0, 3)


async def test_a_cancelled_stop_ends_the_result_streams(recorder: Recorder) -> None:
    never = asyncio.Event()
    pool = WorkerPool(2, 5, on_result=recorder)
    await pool.start()
    stream = pool.results()
    for _ in range(4):
        pool.submit_nowait(gated(never))
    await settle()

    async def read_all() -> list[Result]:
        return [result async for result in stream]

    reader = asyncio.create_task(read_all())
    stopper = asyncio.create_task(pool.stop(timeout=None))
    await settle()
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    got = await asyncio.wait_for(reader, timeout=10)
    # Every job reaches the reader as cancelled (2 running, 2 queued), then it ends.
    assert len(got) == 4 and all(r.cancelled for r in got)
    stream.close()  # safe after the pool ended it


def test_the_seeds_go_names_of_the_pool_errors() -> None:
    assert pool_module.QueueFull is QueueFullError
    assert pool_module.PoolClosed is PoolClosedError


async def test_submit_from_another_thread(recorder: Recorder) -> None:
    async with WorkerPool(3, 4, on_result=recorder) as pool:

        def poll_thread() -> list[str]:
            futures = [pool.submit_threadsafe(returning(i), wait=True) for i in range(500)]
            errors = []
            for future in futures:
                try:
                    future.result(timeout=30)
                except Exception as exc:  # collected so the assertion can show it
                    errors.append(repr(exc))
            return errors

        assert await asyncio.to_thread(poll_thread) == []
        await recorder.wait_for(500)
    assert sorted(r.value for r in recorder.results) == list(range(500))  # type: ignore[type-var]


async def test_threadsafe_nowait_reports_full_and_closed() -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 1)
    await pool.start()
    pool.submit_nowait(gated(gate))
    pool.submit_nowait(gated(gate))
    await settle()

    def from_thread() -> BaseException | None:
        return pool.submit_threadsafe(returning(0)).exception(timeout=30)

    assert isinstance(await asyncio.to_thread(from_thread), QueueFullError)
    gate.set()
    await pool.stop()
    closed = pool.submit_threadsafe(returning(0))
    assert isinstance(closed.exception(timeout=0), PoolClosedError)
    assert isinstance(closed, concurrent.futures.Future)


async def test_buffer_zero_hands_jobs_straight_to_idle_workers(recorder: Recorder) -> None:
    gate = asyncio.Event()
    async with WorkerPool(2, 0, on_result=recorder) as pool:
        assert room(pool)
        pool.submit_nowait(gated(gate, "a"))
        pool.submit_nowait(gated(gate, "b"))
        assert not room(pool)
        with pytest.raises(QueueFullError):
            pool.submit_nowait(returning("rejected"))
        waiting = asyncio.create_task(pool.submit(gated(gate, "c")))
        await settle()
        assert not waiting.done()  # backpressure: no worker idle, no slot
        assert (pool.stats.queued, pool.stats.running) == (0, 2)
        gate.set()
        await waiting
        await recorder.wait_for(3)
    assert sorted(str(r.value) for r in recorder.results) == ["a", "b", "c"]
    assert pool.stats.rejected == 1


async def test_submit_times_out_with_builtin_timeout_error() -> None:
    gate = asyncio.Event()
    async with WorkerPool(1, 1) as pool:
        pool.submit_nowait(gated(gate))
        pool.submit_nowait(gated(gate))
        await settle()
        with pytest.raises(TimeoutError):
            await pool.submit(returning(0), timeout=0.01)
        assert pool.stats.submitted == 2
        gate.set()
        await pool.submit(returning(0), timeout=30)  # room again: the timed-out wait left no trace
    assert pool.stats.succeeded == 3


async def test_waiting_submit_fails_when_stop_begins() -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 0)
    await pool.start()
    pool.submit_nowait(gated(gate))
    waiting = asyncio.create_task(pool.submit(returning(0)))
    await settle()
    stopping = asyncio.create_task(pool.stop())
    with pytest.raises(PoolClosedError):
        await waiting
    gate.set()
    summary = await stopping
    assert summary.finished == 1
    with pytest.raises(PoolClosedError):
        await pool.submit(returning(0))


async def test_stats_are_consistent_while_running(pool3: WorkerPool) -> None:
    gate = asyncio.Event()
    for _ in range(7):
        pool3.submit_nowait(gated(gate))
    await settle()
    stats = pool3.stats
    assert (stats.workers, stats.buffer) == (3, 10)
    assert (stats.submitted, stats.running, stats.queued, stats.finished) == (7, 3, 4, 0)
    gate.set()
    await pool3.stop()
    stats = pool3.stats
    assert (stats.running, stats.queued, stats.succeeded, stats.finished) == (0, 0, 7, 7)


async def test_times_come_from_the_injected_clock(recorder: Recorder) -> None:
    clock = ManualClock()
    gate = asyncio.Event()

    async def takes_half_a_second() -> None:
        clock.advance(0.5)

    async with WorkerPool(1, 2, on_result=recorder, clock=clock) as pool:
        pool.submit_nowait(gated(gate))
        await settle()
        clock.advance(1.0)
        pool.submit_nowait(takes_half_a_second)  # submitted at t=1.0
        clock.advance(2.0)
        gate.set()  # the first job ends at t=3.0; the second starts then
        await recorder.wait_for(2)
    first, second = recorder.results
    assert (first.queue_wait_s, first.run_s) == (0.0, 3.0)
    assert (second.queue_wait_s, second.run_s) == (2.0, 0.5)


async def test_failing_callback_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Result] = []

    def flaky(result: Result) -> None:
        seen.append(result)
        if len(seen) == 1:
            raise RuntimeError("callback bug")

    async with WorkerPool(1, 5, on_result=flaky) as pool:
        pool.submit_nowait(returning(1))
        pool.submit_nowait(returning(2))
    assert [r.value for r in seen] == [1, 2]
    assert any("on_result callback failed" in r.message for r in caplog.records)


async def test_lifecycle_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with WorkerPool(3, 1):
        pass
    messages = [r.message for r in caplog.records]
    assert messages[0].startswith("Starting worker pool with 3 workers")
    assert messages[-1] == "Worker pool stopped"


@pytest.mark.parametrize(
    ("workers", "buffer", "message"),
    [
        (0, 1, "workers must be at least 1, got 0"),
        (-2, 1, "workers must be at least 1, got -2"),
        (1, -1, "buffer must be at least 0, got -1"),
        (1.5, 1, "workers must be an integer, got 1.5"),
        (True, 1, "workers must be an integer, got True"),
        (2, "10", "buffer must be an integer, got '10'"),
    ],
)
def test_invalid_sizes(workers: object, buffer: object, message: str) -> None:
    with pytest.raises(InvalidPoolSizeError, match=message) as info:
        WorkerPool(workers, buffer)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


async def test_submit_before_start_is_refused() -> None:
    pool = WorkerPool(1, 1)
    with pytest.raises(PoolClosedError):
        pool.submit_nowait(returning(0))
    assert isinstance(pool.submit_threadsafe(returning(0)).exception(timeout=0), PoolClosedError)


async def test_batch_from_another_thread_stops_at_the_first_refusal(recorder: Recorder) -> None:
    gate = asyncio.Event()
    pool = WorkerPool(2, 3, on_result=recorder)
    await pool.start()
    batch = [gated(gate, i) for i in range(8)]  # room for 2 running + 3 queued

    def from_thread() -> int:
        return pool.submit_batch_threadsafe(batch).result(timeout=30)

    assert await asyncio.to_thread(from_thread) == 5
    assert pool.stats.rejected == 1
    gate.set()
    await recorder.wait_for(5)
    assert sorted(r.value for r in recorder.results) == list(range(5))  # type: ignore[type-var]
    await pool.stop()
    closed = pool.submit_batch_threadsafe(batch)
    assert isinstance(closed.exception(timeout=0), PoolClosedError)
