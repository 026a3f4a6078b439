"""The asyncio worker pool: `WorkerPool(workers, buffer)`, its jobs, results and lanes."""

from poolbench.errors import PoolClosedError, QueueFullError
from poolbench.pool.job import ExecutableJob, Job, LaneStats, PoolStats, Result, StopSummary
from poolbench.pool.lanes import DEFAULT_LANE_WEIGHTS, LANES, Lane, LaneConfig, LaneQueues
from poolbench.pool.stream import ResultStream
from poolbench.pool.workers import WorkerPool

# The names the seed's Go API uses for the pool's errors.
QueueFull = QueueFullError
PoolClosed = PoolClosedError

__all__ = [
    "DEFAULT_LANE_WEIGHTS",
    "LANES",
    "ExecutableJob",
    "Job",
    "Lane",
    "LaneConfig",
    "LaneQueues",
    "LaneStats",
    "PoolClosed",
    "PoolStats",
    "QueueFull",
    "Result",
    "ResultStream",
    "StopSummary",
    "WorkerPool",
]
