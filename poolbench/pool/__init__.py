"""The asyncio worker pool: `WorkerPool(workers, buffer)`, its jobs and results."""

from poolbench.errors import PoolClosedError, QueueFullError
from poolbench.pool.job import ExecutableJob, Job, PoolStats, Result, StopSummary
from poolbench.pool.stream import ResultStream
from poolbench.pool.workers import WorkerPool

# The names issue 2 (and the seed's Go API) use for the pool's errors.
QueueFull = QueueFullError
PoolClosed = PoolClosedError

__all__ = [
    "ExecutableJob",
    "Job",
    "PoolClosed",
    "PoolStats",
    "QueueFull",
    "Result",
    "ResultStream",
    "StopSummary",
    "WorkerPool",
]
