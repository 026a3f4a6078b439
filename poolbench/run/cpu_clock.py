"""Exact CPU time of a process and of each of its threads, from the kernel's counters.

`read_process_cpu(pid)` reads, in nanoseconds of CPU:
- the whole process, through its CPU-time clock (`clock_gettime` on the clock id that
  glibc's `clock_getcpuclockid(pid)` returns): the kernel's runtime of the thread group,
  which keeps the time of threads that have already exited;
- each live thread, from the first field of /proc/PID/task/TID/schedstat (its runtime on
  a CPU), with its name from /proc/PID/task/TID/comm.

Both are the scheduler's own accounting, exact to the nanosecond, unlike tick-based
`utime`/`stime` (10 ms) or a percentage sampled between two reads. The difference
between the process's time and the sum of its live threads' is the time of threads that
have exited (`poolbench.run.cpu_cost` reports it as such). Linux only; elsewhere, and for
a process that is gone, the reader returns None.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Final

from poolbench.run.samples import ProcessCpu, ThreadCpu

# linux/include/linux/posix-timers.h: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
_CPUCLOCK_SCHED: Final = 2


def process_clock_id(pid: int) -> int:
    """The CPU-time clock of process `pid` (what `clock_getcpuclockid(pid)` returns)."""
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def read_process_cpu(pid: int) -> ProcessCpu | None:
    """The process's CPU time and each live thread's; None if the process is gone."""
    try:
        # The process before and after its threads: an interval from one reading's
        # "before" to another's "after" holds every thread's time within it.
        clock = process_clock_id(pid)
        total = time.clock_gettime_ns(clock)
        tids = os.listdir(f"/proc/{pid}/task")
    except (OSError, AttributeError):
        return None
    threads: list[ThreadCpu] = []
    for entry in tids:
        # A thread may exit between the listing and the read: it is then counted among
        # the exited threads.
        with contextlib.suppress(OSError, ValueError, IndexError):
            base = f"/proc/{pid}/task/{entry}"
            with open(f"{base}/schedstat", encoding="ascii") as stat:
                runtime = int(stat.read().split()[0])
            with open(f"{base}/comm", encoding="utf-8", errors="replace") as comm:
                name = comm.read().strip()
            threads.append(ThreadCpu(tid=int(entry), name=name, cpu_ns=runtime))
    try:
        after = time.clock_gettime_ns(clock)
    except OSError:
        return None  # gone while its threads were read
    return ProcessCpu(pid=pid, cpu_ns=total, threads=tuple(threads), cpu_after_ns=after)
