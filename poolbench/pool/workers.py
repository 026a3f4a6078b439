"""The worker pool: N long-lived asyncio worker tasks behind a bounded job queue.

The seed's Go pool, without its defects: results never block workers, a full queue is
logged once per episode instead of once per rejected job, and `stop()` reports what it
had to abandon. Hot path: a submitted job is either handed straight to an idle worker
(its wake-up future gets the job) or appended to a deque; workers drain the deque without
suspending between jobs. No task, lock or log record is created per job.

With a `LaneConfig` the single deque becomes three bounded ones (`lanes.LaneQueues`):
each lane rejects or makes `submit()` wait on its own, and workers take by weighted
round robin. Without one, the lane argument is ignored: one FIFO, as before lanes.

Why one module of ~700 lines: `WorkerPool` is one class whose submit, hand-off, drain
and stop paths share its private state (the idle workers' wake-up futures, the putters
waiting for room, the per-lane counters) under one event loop; the hot path indexes
plain lists instead of calling into other modules. What is separable lives beside it:
lanes in `lanes.py`, results in `stream.py`, records in `job.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from types import TracebackType
from typing import NoReturn

from poolbench.errors import InvalidPoolSizeError, PoolClosedError, QueueFullError
from poolbench.metrics.clock import Clock
from poolbench.pool.job import Job, LaneStats, PoolStats, Result, StopSummary
from poolbench.pool.lanes import LANES, Lane, LaneConfig, LaneQueues
from poolbench.pool.stream import ResultStream

# One logger for the whole pool package, so that one setting quiets or shows all of it.
logger = logging.getLogger("poolbench.pool")

# (run, job id, submitted at, lane): a tuple is the cheapest record for the hot path.
_Entry = tuple[Callable[[], Awaitable[object]], Hashable, float, Lane]
_Putters = deque[asyncio.Future[None]]

_NORMAL = Lane.NORMAL
# Plain ints index the per-lane lists on the hot path: CPython specialises list and tuple
# subscripts for exact ints only, not for IntEnum members.
_NORMAL_INDEX = 1
# Builds a `Result` without NamedTuple's keyword-parsing __new__ (once per job).
_new_result = tuple.__new__


def _wake_first(putters: _Putters) -> bool:
    """Wake the first still-waiting submit() of `putters`; whether there was one."""
    while putters:
        putter = putters.popleft()
        if not putter.done():
            putter.set_result(None)
            return True
    return False


DEFAULT_STOP_TIMEOUT_S = 30.0


def _check_size(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPoolSizeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidPoolSizeError(f"{name} must be at least {minimum}, got {value}")
    return value


class WorkerPool:
    """A fixed number of workers and a queue of `buffer` slots.

    `buffer=0` hands each job straight to an idle worker. With `lanes`, each lane has its
    own share of the buffer (`LaneConfig.lane_buffers`; `buffer` becomes their sum) and a
    job goes in the lane given to `submit*` (normal by default). Every job yields one `Result`,
    passed to `on_result` (synchronously, in the event loop, right after the job ends; an
    exception there is logged and ignored) and to every open `results()` stream.

    Thread-safety: only `submit_threadsafe` may be called from another thread; every other
    method and property must be used from the event loop that ran `start()`.
    """

    def __init__(
        self,
        workers: int,
        buffer: int,
        *,
        on_result: Callable[[Result], None] | None = None,
        name: str = "email",
        clock: Clock | None = None,
        lanes: LaneConfig | None = None,
    ) -> None:
        self.workers = _check_size("workers", workers, 1)
        self.buffer = _check_size("buffer", buffer, 0)
        self.lane_config = lanes
        self._lanes: LaneQueues[_Entry] | None = None
        if lanes is not None:
            shares = lanes.lane_buffers(self.buffer)
            self._lanes = LaneQueues(lanes.weights, shares)
            self.buffer = sum(shares)
        self.name = name
        self._on_result = on_result
        # perf_counter by default: the cheapest monotonic clock on the hot path.
        self._now: Callable[[], float] = clock.monotonic if clock is not None else time.perf_counter
        self._ids = itertools.count(1)
        self._queue: deque[_Entry] = deque()
        # Futures of idle workers, each waiting for a job (or None: exit).
        self._idle: deque[asyncio.Future[_Entry | None]] = deque()
        # Futures of `submit()` calls waiting for room, per lane (without lanes, all wait
        # in the normal lane's deque).
        self._putters: tuple[_Putters, _Putters, _Putters] = (deque(), deque(), deque())
        self._streams: list[ResultStream] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._aborting = False
        # Per lane: "queue is full" was logged in this episode (a pool without lanes uses
        # the normal lane's flag).
        self._full_logged = [False, False, False]
        self._stopping: asyncio.Future[StopSummary] | None = None
        # queued = submitted - taken; running = taken - (succeeded + failed + cancelled).
        # Fewer counters to move per job than keeping queued and running themselves.
        self._submitted = self._rejected = self._taken = 0
        self._succeeded = self._failed = self._cancelled = 0
        self._abandoned = 0
        # Per-lane counters, kept only by a pool with lanes (abandoned: by both).
        self._lane_submitted = [0, 0, 0]
        self._lane_rejected = [0, 0, 0]
        self._lane_abandoned = [0, 0, 0]

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker tasks in the running event loop."""
        if self._loop is not None:
            raise RuntimeError("worker pool already started")
        if self._closed:
            raise PoolClosedError(f"worker pool {self.name!r} was stopped")
        self._loop = asyncio.get_running_loop()
        logger.info("Starting worker pool with %d workers (buffer %d)", self.workers, self.buffer)
        if self._lanes is not None:
            logger.info(
                "Worker pool lanes high:normal:low: weights %s, buffers %s",
                ":".join(map(str, self._lanes.weights)),
                ":".join(map(str, self._lanes.buffers)),
            )
        work = self._work if self._lanes is None else self._work_lanes
        self._tasks = [
            self._loop.create_task(work(), name=f"{self.name}-worker-{i}")
            for i in range(self.workers)
        ]
        # One turn of the loop lets every worker reach its idle wait, so that a pool
        # with buffer=0 accepts jobs as soon as start() returns.
        await asyncio.sleep(0)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A cancelled context cancels the running jobs at once (the seed's context
        # support); a normal or failing exit drains the pool first.
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            await self.stop(timeout=0)
        else:
            await self.stop(timeout=DEFAULT_STOP_TIMEOUT_S)

    # The seed's API takes a deadline for the drain, hence the `timeout` parameters.
    async def stop(
        self,
        timeout: float | None = DEFAULT_STOP_TIMEOUT_S,  # noqa: ASYNC109
    ) -> StopSummary:
        """Stop accepting jobs, let queued and running ones finish, and summarise.

        Past `timeout` seconds (None: no limit, 0: at once) the jobs left are cancelled
        and counted as abandoned. Calling it again returns the same summary.
        """
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_future()
            try:
                summary = await self._stop(timeout)
            except asyncio.CancelledError as exc:
                # Whoever stops us is cancelled: cancel the jobs too, without waiting.
                self._aborting = True
                self._abandon_queue()
                for task in self._tasks:
                    task.cancel()
                # Readers must not hang: end the streams once the cancelled workers have
                # reported their jobs (we cannot wait for them here).
                self._end_streams_when_done()
                self._stopping.set_exception(exc)
                self._stopping.exception()
                raise
            except BaseException as exc:
                self._stopping.set_exception(exc)
                self._stopping.exception()  # retrieved: no "never retrieved" warning
                raise
            self._stopping.set_result(summary)
            return summary
        return await asyncio.shield(self._stopping)

    async def _stop(self, timeout: float | None) -> StopSummary:  # noqa: ASYNC109
        self._closed = True
        for putters in self._putters:
            while putters:
                putter = putters.popleft()
                if not putter.done():
                    putter.set_result(None)  # the waiting submit() sees the pool closed
        while self._idle:
            idle = self._idle.popleft()
            if not idle.done():
                idle.set_result(None)
        timed_out = False
        if self._tasks:
            if timeout is None or timeout > 0:
                _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            else:
                pending = {task for task in self._tasks if not task.done()}
            outstanding = self._submitted - self._succeeded - self._failed - self._cancelled
            if pending and outstanding:
                timed_out = True
                logger.warning(
                    "Worker pool shutdown timeout: abandoning %d jobs",
                    outstanding,
                )
                await self._abort(pending)
            elif pending:  # idle workers on their way out
                await asyncio.wait(pending)
        self._end_streams()
        logger.info("Worker pool stopped")
        return StopSummary(
            finished=self._succeeded + self._failed,
            abandoned=self._abandoned,
            timed_out=timed_out,
            stats=self.stats,
        )

    async def _abort(self, pending: set[asyncio.Task[None]]) -> None:
        self._aborting = True
        self._abandon_queue()
        for task in pending:
            task.cancel()
        # Workers report their running job as cancelled, then end.
        await asyncio.wait(pending)

    def _abandon_queue(self) -> None:
        while self._queue:
            self._abandon_handed(self._queue.popleft())
        if self._lanes is not None:
            for entry in self._lanes.drain():
                self._abandon_handed(entry)

    def _end_streams(self) -> None:
        streams, self._streams = self._streams, []
        for stream in streams:
            stream.end()

    def _end_streams_when_done(self) -> None:
        pending = {task for task in self._tasks if not task.done()}
        if not pending:
            self._end_streams()
            return

        def finished(task: asyncio.Task[None]) -> None:
            pending.discard(task)
            if not pending:
                self._end_streams()

        for task in pending:
            task.add_done_callback(finished)

    def _detach(self, stream: ResultStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    # ---- submitting -------------------------------------------------------------------

    @property
    def has_room(self) -> bool:
        """Whether `submit_nowait` would accept a job (in the normal lane) now."""
        if self._lanes is None:
            return not self._closed and (bool(self._idle) or len(self._queue) < self.buffer)
        return self.has_room_for(_NORMAL)

    def has_room_for(self, lane: Lane) -> bool:
        """Whether `submit_nowait(job, lane)` would accept a job now (an idle worker or a
        free slot of that lane; without lanes, the one queue's)."""
        if self._closed:
            return False
        if self._idle:
            return True
        lanes = self._lanes
        return len(self._queue) < self.buffer if lanes is None else lanes.has_room(lane)

    def submit_nowait(self, job: Job, lane: Lane = _NORMAL) -> None:
        """Queue a job, or raise `QueueFullError` at once (`PoolClosedError` once stopping).

        With lanes, only the job's lane must have room: a full lane refuses its own jobs
        and no other lane's. Without lanes, `lane` is ignored (one FIFO).
        """
        if self._lanes is not None:
            self._submit_lane_nowait(job, lane)
            return
        if self._closed or self._loop is None:
            raise PoolClosedError(f"worker pool {self.name!r} is not accepting jobs")
        entry = self._hand_over(job, _NORMAL)
        if entry is not None:
            if len(self._queue) >= self.buffer:
                self._reject(_NORMAL)
            self._queue.append(entry)
        self._submitted += 1

    def _submit_lane_nowait(self, job: Job, lane: Lane) -> None:
        lanes = self._lanes
        if self._closed or self._loop is None or lanes is None:
            raise PoolClosedError(f"worker pool {self.name!r} is not accepting jobs")
        entry = self._hand_over(job, lane)
        if entry is not None:
            queue = lanes.queues[lane]  # LaneQueues.append, inlined
            if len(queue) >= lanes.buffers[lane]:
                self._reject(lane)
            queue.append(entry)
        self._lane_submitted[lane] += 1
        self._submitted += 1

    def _hand_over(self, job: Job, lane: Lane) -> _Entry | None:
        """Hand the job's entry to an idle worker (None), or return it for a queue."""
        execute = getattr(job, "execute", None)
        if execute is not None:
            entry: _Entry = (execute, job.id, self._now(), lane)  # type: ignore[union-attr]
        else:
            entry = (job, next(self._ids), self._now(), lane)  # type: ignore[assignment]
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(entry)
                return None
        return entry

    def _reject(self, lane: Lane) -> NoReturn:
        self._rejected += 1
        lanes = self._lanes
        if lanes is not None:
            self._lane_rejected[lane] += 1
        if not self._full_logged[lane]:
            self._full_logged[lane] = True
            if lanes is None:
                logger.warning(
                    "Worker pool job queue is full (%d workers busy, buffer %d)",
                    self.workers,
                    self.buffer,
                )
            else:
                logger.warning(
                    "Worker pool job queue is full in lane %s (%d workers busy, %d slots)",
                    lane.name.lower(),
                    self.workers,
                    lanes.buffers[lane],
                )
        if lanes is None:
            raise QueueFullError(f"worker pool {self.name!r} job queue is full")
        raise QueueFullError(f"worker pool {self.name!r} lane {lane.name.lower()} is full")

    async def submit(
        self,
        job: Job,
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        lane: Lane = _NORMAL,
    ) -> None:
        """Queue a job, waiting for room (backpressure); `TimeoutError` past `timeout`.

        With lanes it waits for room in the job's lane only.
        """
        if self._lanes is None:
            if not (self._idle or len(self._queue) < self.buffer or self._closed):
                await self._wait_for_room(_NORMAL, timeout)
            self.submit_nowait(job)
            return
        lanes = self._lanes
        if not (self._closed or self._idle or len(lanes.queues[lane]) < lanes.buffers[lane]):
            await self._wait_for_room(lane, timeout)
        self._submit_lane_nowait(job, lane)

    async def _wait_for_room(self, lane: Lane, timeout: float | None) -> None:  # noqa: ASYNC109
        # Without lanes every waiter queues in the normal lane's deque.
        putters = self._putters[_NORMAL_INDEX if self._lanes is None else lane]
        async with asyncio.timeout(timeout):
            while not self.has_room_for(lane) and not self._closed:
                putter = asyncio.get_running_loop().create_future()
                putters.append(putter)
                try:
                    await putter
                except BaseException:
                    # Pass a wake-up we got but cannot use to the next waiter.
                    if putter.done() and not putter.cancelled():
                        self._wake_putter(lane)
                    else:
                        putter.cancel()
                    raise

    def submit_threadsafe(
        self, job: Job, *, wait: bool = False, lane: Lane = _NORMAL
    ) -> concurrent.futures.Future[None]:
        """Submit from any thread (e.g. the Kafka poll thread); the only thread-safe method.

        The returned future resolves once the job is queued, or fails with
        `QueueFullError` (queue full and `wait` false) or `PoolClosedError`. With `wait`,
        the job waits for room like `submit()`. Every other method must be called from the
        event loop thread that started the pool.
        """
        result: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = self._loop
        if loop is None or self._closed:
            result.set_exception(PoolClosedError(f"worker pool {self.name!r} is not running"))
            return result
        try:
            if wait:
                return asyncio.run_coroutine_threadsafe(self.submit(job, lane=lane), loop)
            loop.call_soon_threadsafe(self._submit_for_thread, job, result, lane)
        except RuntimeError:  # the loop is closed
            result.set_exception(PoolClosedError(f"worker pool {self.name!r} is not running"))
        return result

    def _submit_for_thread(
        self, job: Job, result: concurrent.futures.Future[None], lane: Lane
    ) -> None:
        if not result.set_running_or_notify_cancel():
            return
        try:
            self.submit_nowait(job, lane)
        except (QueueFullError, PoolClosedError) as exc:
            result.set_exception(exc)
        else:
            result.set_result(None)

    def submit_batch_threadsafe(
        self, jobs: Sequence[Job], *, lane: Lane = _NORMAL
    ) -> concurrent.futures.Future[int]:
        """Submit several jobs from another thread with one wake-up of the event loop.

        Thread-safe like `submit_threadsafe` (one cross-thread call per batch instead of
        per job, e.g. per Kafka poll). The future resolves to how many jobs were queued:
        jobs are taken in order and the first one refused (queue full) ends the batch, so
        `jobs[n:]` were not queued. It fails with `PoolClosedError` if the pool is closed.
        All the jobs go in `lane`: a batch of mixed lanes is one call per lane, so that a
        full lane ends only its own batch.
        """
        result: concurrent.futures.Future[int] = concurrent.futures.Future()
        loop = self._loop
        if loop is None or self._closed:
            result.set_exception(PoolClosedError(f"worker pool {self.name!r} is not running"))
            return result
        try:
            loop.call_soon_threadsafe(self._submit_batch_for_thread, jobs, result, lane)
        except RuntimeError:  # the loop is closed
            result.set_exception(PoolClosedError(f"worker pool {self.name!r} is not running"))
        return result

    def _submit_batch_for_thread(
        self, jobs: Sequence[Job], result: concurrent.futures.Future[int], lane: Lane
    ) -> None:
        if not result.set_running_or_notify_cancel():
            return
        if self._closed:
            result.set_exception(PoolClosedError(f"worker pool {self.name!r} is not running"))
            return
        queued = 0
        try:
            for job in jobs:
                self.submit_nowait(job, lane)
                queued += 1
        except QueueFullError:
            pass
        result.set_result(queued)

    def _wake_putter(self, lane: Lane) -> None:
        """Wake one waiting submit(): of `lane` if one waits there, else of the highest lane.

        For wake-ups that may be room for any lane: a worker going idle, or one that a
        cancelled waiter passes on. (A take frees a slot in its own lane only: the workers
        wake that lane's first waiter directly.) A waiter woken without room waits again.
        """
        if _wake_first(self._putters[lane]):
            return
        for putters in self._putters:
            if _wake_first(putters):
                return

    # ---- the workers ------------------------------------------------------------------

    # Two worker loops, one per kind of pool: the pool without lanes must not pay for them
    # (benchmarks/test_bench_pool.py), and a branch per job measured several percent.
    # They differ only in how a job is taken and whom a take wakes; waiting idle and
    # running the job are shared (one coroutine frame more per job, no task or lock).

    async def _work(self) -> None:
        queue = self._queue
        putters = self._putters[_NORMAL_INDEX]
        full_logged = self._full_logged
        run_entry = self._run_entry
        while not self._aborting:
            if queue:
                entry = queue.popleft()
                full_logged[_NORMAL_INDEX] = False
                if putters:
                    _wake_first(putters)
            elif self._closed:
                return
            else:
                full_logged[_NORMAL_INDEX] = False
                if putters:
                    _wake_first(putters)
                got = await self._wait_idle()
                if got is None:
                    return
                entry = got
            await run_entry(entry)

    async def _work_lanes(self) -> None:
        lanes = self._lanes
        assert lanes is not None
        high_q, normal_q, low_q = lanes.queues
        putters = self._putters
        high_p, normal_p, low_p = putters
        full_logged = self._full_logged
        run_entry = self._run_entry
        while not self._aborting:
            if high_q or normal_q or low_q:
                entry = lanes.popleft()
                taken_from = entry[3]
                full_logged[taken_from] = False
                if putters[taken_from]:  # a take frees a slot in its own lane only
                    _wake_first(putters[taken_from])
            elif self._closed:
                return
            else:
                # An idle worker is room for every lane: the full episodes end.
                full_logged[0] = full_logged[1] = full_logged[2] = False
                if high_p or normal_p or low_p:
                    self._wake_putter(Lane.HIGH)
                got = await self._wait_idle()
                if got is None:
                    return
                entry = got
            await run_entry(entry)

    async def _wait_idle(self) -> _Entry | None:
        """Wait among the idle workers until `submit*` hands a job over (None: exit)."""
        waiter: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # a job was handed over as we were cancelled
                if handed is not None:
                    self._abandon_handed(handed)
            raise

    async def _run_entry(self, entry: _Entry) -> None:
        """Run one taken job and deliver its `Result`; re-raise only the worker's cancel."""
        run, job_id, submitted_at, lane = entry
        self._taken += 1
        now = self._now
        started = now()
        try:
            value = await run()
        except asyncio.CancelledError as exc:
            self._job_cancelled(job_id, exc, started - submitted_at, started, lane)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except Exception as exc:
            self._failed += 1
            wait, ran = started - submitted_at, now() - started
            self._deliver(_new_result(Result, (job_id, False, exc, False, wait, ran, None, lane)))
        else:
            self._succeeded += 1
            wait, ran = started - submitted_at, now() - started
            self._deliver(_new_result(Result, (job_id, True, None, False, wait, ran, value, lane)))

    def _job_cancelled(
        self,
        job_id: Hashable,
        exc: asyncio.CancelledError,
        wait: float,
        started: float,
        lane: Lane,
    ) -> None:
        self._cancelled += 1
        if self._aborting:
            self._abandoned += 1
            self._lane_abandoned[lane] += 1
        self._deliver(
            Result(
                job_id=job_id,
                success=False,
                error=exc,
                cancelled=True,
                queue_wait_s=wait,
                run_s=self._now() - started,
                lane=lane,
            )
        )

    def _abandon_handed(self, entry: _Entry) -> None:
        _, job_id, submitted_at, lane = entry
        self._taken += 1
        self._abandoned += 1
        self._lane_abandoned[lane] += 1
        self._cancelled += 1
        wait = self._now() - submitted_at
        self._deliver(
            Result(
                job_id=job_id,
                success=False,
                error=None,
                cancelled=True,
                queue_wait_s=wait,
                run_s=0.0,
                lane=lane,
            )
        )

    def _deliver(self, result: Result) -> None:
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                logger.exception("on_result callback failed for job %r", result.job_id)
        for stream in self._streams:
            stream.push(result)

    # ---- observing --------------------------------------------------------------------

    def results(self, maxlen: int = 10_000) -> ResultStream:
        """An async iterator over the results of jobs that end from now on.

        Never blocks a worker: at most `maxlen` unread results are kept; beyond that the
        oldest is dropped and counted in the stream's `dropped`. The iteration ends after
        `stop()`, once the pending results are read.
        """
        stream = ResultStream(maxlen, self._detach)
        if self._stopping is not None and self._stopping.done():
            stream.end()
        else:
            self._streams.append(stream)
        return stream

    @property
    def stats(self) -> PoolStats:
        return PoolStats(
            workers=self.workers,
            buffer=self.buffer,
            submitted=self._submitted,
            rejected=self._rejected,
            queued=self._submitted - self._taken,
            running=self._taken - self._succeeded - self._failed - self._cancelled,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            lanes=self._lane_stats(),
        )

    def _lane_stats(self) -> tuple[LaneStats, ...]:
        lanes = self._lanes
        if lanes is None:
            return ()
        return tuple(
            LaneStats(
                lane=lane,
                weight=lanes.weights[lane],
                buffer=lanes.buffers[lane],
                submitted=self._lane_submitted[lane],
                rejected=self._lane_rejected[lane],
                queued=len(lanes.queues[lane]),
                abandoned=self._lane_abandoned[lane],
            )
            for lane in LANES
        )
