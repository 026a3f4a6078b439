"""The plain data a point collects: time windows, receipts, process samples, metric scrapes.

Kept apart from the arithmetic (`measure`, `harness`, `accounting`) so the sampler and
every pure function share the types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from poolbench.run.budget import StampedReceipt

NS_PER_S: Final = 1_000_000_000
MB: Final = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A half-open interval [start_ns, end_ns) of CLOCK_MONOTONIC nanoseconds (`stamp_ns`)."""

    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise ValueError(f"empty window: {self.start_ns} .. {self.end_ns}")

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S

    def __contains__(self, ns: object) -> bool:
        return isinstance(ns, int) and self.start_ns <= ns < self.end_ns


class ReceiptLike(StampedReceipt, Protocol):
    """What the sink records per accepted email (`poolbench.sink.Receipt` fits): the
    stamps the time budget reads, and the email's id and intended send time."""

    @property
    def id(self) -> str: ...

    @property
    def intended_ns(self) -> int | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadCpu:
    """One thread's CPU time so far (the kernel's runtime, ns) and its name (`comm`)."""

    tid: int
    name: str
    cpu_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessCpu:
    """One process's CPU time so far (ns), exited threads included, and its live threads'.

    `cpu_ns` is read just before the threads and `cpu_after_ns` just after them (None:
    the same), so an interval that starts at one reading's `cpu_ns` and ends at
    another's `cpu_after_ns` holds every thread's time within it, whatever ran while
    the threads were read (`poolbench.run.cpu_cost`).
    """

    pid: int
    cpu_ns: int
    threads: tuple[ThreadCpu, ...] = ()
    cpu_after_ns: int | None = None

    @property
    def cpu_end_ns(self) -> int:
        """The process's time as the end of an interval: read after its threads."""
        return self.cpu_ns if self.cpu_after_ns is None else self.cpu_after_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSample:
    """One sampling tick of one role ("consumer", "sink", ...), summed over its processes.

    `cpu`: each process's exact CPU counters (`poolbench.run.cpu_clock`), read at
    `cpu_t_ns` (CLOCK_MONOTONIC, the receipts' clock); empty where they could not be read.
    """

    t_ns: int
    role: str
    rss_bytes: int
    cpu_percent: float  # 100 = one core
    processes: int = 1
    cpu: tuple[ProcessCpu, ...] = ()
    cpu_t_ns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSample:
    """One scrape of the consumer's /metrics (summed over its instances).

    `retried` and `dead_lettered` are the consumer's counters since it started; `lag` is
    its Kafka lag (messages behind the high watermark). None: the consumer does not
    export that metric (a foreign consumer may export none of them).
    """

    t_ns: int
    queue_depth: float
    busy_workers: float
    retried: float | None = None
    dead_lettered: float | None = None
    lag: float | None = None
