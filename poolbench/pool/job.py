"""What goes into the worker pool (a job) and what comes out (a result, stats, a summary)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable

from poolbench.pool.lanes import Lane


@runtime_checkable
class ExecutableJob(Protocol):
    """A job object: the consumer's email jobs have this shape."""

    @property
    def id(self) -> Hashable: ...

    def execute(self) -> Awaitable[object]: ...


#: A job is an async callable with no arguments, or an object with `execute()` and `id`.
Job: TypeAlias = ExecutableJob | Callable[[], Awaitable[object]]


class Result(NamedTuple):
    """The outcome of one job, delivered once, right after the job ends.

    `cancelled` is true when the job was cancelled (by itself, by the pool's context, or
    abandoned by `stop()` past its timeout, in which case `run_s` is 0: it never ran).
    `lane` is the lane the job was queued in (always NORMAL in a pool without lanes).
    A NamedTuple rather than a frozen dataclass because one is built per job: it is
    immutable too, and measured ten times cheaper to create (about 0.2 us against 2 us).
    """

    job_id: Hashable
    success: bool
    error: BaseException | None
    cancelled: bool
    queue_wait_s: float
    run_s: float
    value: object = None
    lane: Lane = Lane.NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneStats:
    """One lane of a pool with lanes: its share and its counters.

    `submitted` counts jobs accepted into this lane (handed straight to an idle worker or
    queued); `rejected` the `submit_nowait` calls refused because the lane was full;
    `queued` its current depth; `abandoned` its jobs cancelled by `stop()` past the
    timeout (queued or running then).
    """

    lane: Lane
    weight: int
    buffer: int
    submitted: int
    rejected: int
    queued: int
    abandoned: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolStats:
    """A snapshot of the pool's counters.

    `submitted` counts accepted jobs; every one of them is in exactly one of `queued`
    (accepted, not started), `running`, `succeeded`, `failed` or `cancelled`.
    `rejected` counts `submit_nowait` calls refused because the queue was full.
    `lanes`: one `LaneStats` per lane (high, normal, low); empty for a pool without lanes.
    """

    workers: int
    buffer: int
    submitted: int
    rejected: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    lanes: tuple[LaneStats, ...] = ()

    @property
    def finished(self) -> int:
        """Jobs that reached an end: succeeded, failed or cancelled."""
        return self.succeeded + self.failed + self.cancelled


@dataclass(frozen=True, slots=True, kw_only=True)
class StopSummary:
    """What `WorkerPool.stop()` achieved.

    `finished`: jobs that ran to an end (succeeded or failed) over the pool's life.
    `abandoned`: jobs cancelled because the stop timeout passed (queued or running then).
    `timed_out`: whether the timeout passed before the pool drained.
    """

    finished: int
    abandoned: int
    timed_out: bool
    stats: PoolStats
