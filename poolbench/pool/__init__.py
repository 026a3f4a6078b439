"""The asyncio worker pool: `WorkerPool(workers, buffer)`, its jobs and results."""

from poolbench.pool.job import ExecutableJob, Job, PoolStats, Result, StopSummary
from poolbench.pool.stream import ResultStream
from poolbench.pool.workers import WorkerPool

__all__ = [
    "ExecutableJob",
    "Job",
    "PoolStats",
    "Result",
    "ResultStream",
    "StopSummary",
    "WorkerPool",
]
