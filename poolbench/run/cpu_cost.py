"""The CPU cost of an email, exact by construction, and the busiest thread of each part.

From two readings of the kernel's CPU counters (`poolbench.run.cpu_clock`) taken by the
sampler inside the steady-state window, the first and the last, a part's CPU time over
[first, last) is the difference of its processes' counters: nanoseconds of CPU, with no
sampling error. Divided by the emails the sink received over exactly the same interval
(the receipts and the readings are stamped on the same clock, CLOCK_MONOTONIC), it is the part's CPU
per email. Nothing is interpolated or averaged: both numbers count the same interval.

Per thread: each live thread's difference, grouped by its name (its main thread is
"event loop" for our consumer, which runs asyncio there, and the sink; "main" elsewhere).
A thread that exited inside the interval has no last reading: its time is the process's
difference less its live threads' ("exited threads"), since the process's counter keeps
the time of its dead threads. A process that exited inside the interval is counted in
`processes_exited`, and the time it ran after its first reading is missing from `cpu_ns`.

Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from poolbench.run.samples import ProcessCpu, ProcessSample, Window

EXITED_THREADS: Final = "exited threads"
# Our consumer's Kafka poll thread names itself so (consumer/poller.py).
POLL_THREAD: Final = "poolbench-poll"
# At or above this share of one core, a thread is the limit of its part.
THREAD_BOUND_SHARE: Final = 0.9
PART_NAMES: Final = {"consumer": "consumer", "sink": "sink", "loadgen": "load generator"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuCost:
    """One part's CPU over [start_ns, end_ns): in total, per thread name, per email."""

    role: str
    start_ns: int
    end_ns: int
    cpu_ns: int
    emails: int
    threads: Mapping[str, int] = field(default_factory=dict)  # name -> ns, all processes
    busiest_thread: str | None = None  # the single thread with the most CPU
    busiest_share: float = 0.0  # its CPU over the interval, 1.0 = one core
    processes_exited: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", MappingProxyType(dict(self.threads)))

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def us_per_email(self) -> float | None:
        """CPU microseconds per email received in the interval; None with no email."""
        return self.cpu_ns / 1000 / self.emails if self.emails else None

    @property
    def cores(self) -> float:
        """The part's mean CPU over the interval, 1.0 = one core."""
        return self.cpu_ns / (self.end_ns - self.start_ns)


def cpu_costs(
    samples: Iterable[ProcessSample], window: Window, received_ns: Sequence[int]
) -> dict[str, CpuCost]:
    """Per role, its CPU cost over the first and last counter readings inside `window`;
    `received_ns`: when each email delivered in the point was received (any order)."""
    readings: dict[str, list[ProcessSample]] = {}
    for s in samples:
        t = s.cpu_t_ns
        if s.cpu and t is not None and window.start_ns <= t <= window.end_ns:
            readings.setdefault(s.role, []).append(s)
    stamps = sorted(received_ns)
    out: dict[str, CpuCost] = {}
    for role, chosen in readings.items():
        chosen.sort(key=lambda s: s.cpu_t_ns or 0)
        first, last = chosen[0], chosen[-1]
        start, end = first.cpu_t_ns, last.cpu_t_ns
        if start is None or end is None or end <= start:
            continue
        emails = bisect.bisect_left(stamps, end) - bisect.bisect_left(stamps, start)
        out[role] = _cost(
            role, first=first.cpu, last=last.cpu, start_ns=start, end_ns=end, emails=emails
        )
    return out


def _cost(
    role: str,
    *,
    first: Sequence[ProcessCpu],
    last: Sequence[ProcessCpu],
    start_ns: int,
    end_ns: int,
    emails: int,
) -> CpuCost:
    before = {p.pid: p for p in first}
    total = 0
    threads: dict[str, int] = {}
    busiest: tuple[int, str] | None = None
    for process in last:
        earlier = before.get(process.pid)
        end = process.cpu_end_ns  # read after the threads, the start before them
        if earlier is not None and earlier.cpu_ns > end:
            earlier = None  # a counter never goes back: the pid was reused by a new process
        # A process first seen after the first reading started inside the interval.
        total += end - (earlier.cpu_ns if earlier else 0)
        thread_before = {t.tid: t.cpu_ns for t in earlier.threads} if earlier else {}
        ours = any(t.name == POLL_THREAD for t in process.threads) or role == "sink"
        live = 0
        for thread in process.threads:
            start = thread_before.get(thread.tid, 0)
            # A tid whose counter went back is a new thread that reused it.
            spent = thread.cpu_ns - (start if start <= thread.cpu_ns else 0)
            live += spent
            name = thread.name
            if thread.tid == process.pid:
                name = "event loop" if ours else "main"
            threads[name] = threads.get(name, 0) + spent
            if busiest is None or spent > busiest[0]:
                busiest = (spent, name)
        # Never below zero: the interval runs from a "before" reading to an "after" one.
        # Above it by the threads that exited, and by what ran while threads were read.
        exited = end - (earlier.cpu_ns if earlier else 0) - live
        if exited > 0:
            threads[EXITED_THREADS] = threads.get(EXITED_THREADS, 0) + exited
    gone = len(set(before) - {p.pid for p in last})
    return CpuCost(
        role=role,
        start_ns=start_ns,
        end_ns=end_ns,
        cpu_ns=total,
        emails=emails,
        threads=threads,
        busiest_thread=None if busiest is None else busiest[1],
        busiest_share=0.0 if busiest is None else busiest[0] / (end_ns - start_ns),
        processes_exited=gone,
    )


def cpu_bound(costs: Mapping[str, CpuCost]) -> list[str]:
    """ "consumer CPU-bound: event loop thread 96% of a core", for each part whose busiest
    thread was at `THREAD_BOUND_SHARE` of a core or more over the interval."""
    out: list[str] = []
    for role, part in PART_NAMES.items():
        cost = costs.get(role)
        if cost is None or cost.busiest_thread is None:
            continue
        if cost.busiest_share >= THREAD_BOUND_SHARE:
            out.append(
                f"{part} CPU-bound: {cost.busiest_thread} thread {cost.busiest_share:.0%} "
                f"of a core (over {cost.seconds:.1f} s of the steady-state window)"
            )
    return out
