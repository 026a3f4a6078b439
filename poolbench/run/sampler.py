"""A background thread sampling memory and CPU of the run's processes, the whole machine,
and the consumer's Prometheus `/metrics` (queue length, busy workers, Kafka lag, and the
retried and dead-lettered counters).

Per tick and role ("consumer", "loadgen", ...) one `ProcessSample` sums RSS and CPU% over
the role's processes and their children (a consumer launched through a shell wrapper is
measured whole). CPU% is psutil's per-process figure since the previous tick, 100 = one
core; the first tick of a new process reads 0 and is dropped. Each tick also reads the
exact CPU counters of every process and thread (`cpu_clock`), from which
`poolbench.run.cpu_cost` gives the CPU per email of a window. The sampler reads clocks
and sockets, so it is kept thin: the arithmetic over its samples is in `measure`.

Role "machine" is the whole machine's CPU (100 = one core, up to 100 x cores). Each tick
also reads every watched process's kernel high-water mark of resident memory (VmHWM in
/proc/PID/status), so a peak between two ticks is not missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Final, Self

import psutil
from prometheus_client.parser import text_string_to_metric_families

from poolbench.metrics.clock import Clock, SystemClock
from poolbench.run.cpu_clock import read_process_cpu
from poolbench.run.samples import MetricSample, ProcessSample

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 0.25
QUEUE_METRIC: Final = "poolbench_queue_length"
BUSY_METRIC: Final = "poolbench_busy_workers"
RETRIED_METRIC: Final = "poolbench_send_retries"
DEAD_LETTERED_METRIC: Final = "poolbench_events_dead_lettered"
LAG_METRIC: Final = "poolbench_consumer_lag"
_EXTRA_METRICS: Final = (RETRIED_METRIC, DEAD_LETTERED_METRIC, LAG_METRIC)
_SCRAPE_TIMEOUT_S: Final = 0.5
MACHINE_ROLE: Final = "machine"


def read_hwm_bytes(pid: int) -> int | None:
    """The kernel's high-water mark of the process's resident memory; None if unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def parse_metrics(text: str, names: Sequence[str]) -> dict[str, float]:
    """The values of the named gauges and counters (summed over their label sets) in an
    exposition text. A counter is named without its `_total` suffix, as in its family."""
    wanted = set(names)
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted or (
                family.type == "counter"
                and family.name in wanted
                and sample.name == f"{family.name}_total"
            ):
                name = sample.name if sample.name in wanted else family.name
                found[name] = found.get(name, 0.0) + float(sample.value)
    return found


class Sampler:
    """Samples watched pids every `interval_s` in a daemon thread until stopped."""

    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Clock | None = None,
        queue_metric: str = QUEUE_METRIC,
        busy_metric: str = BUSY_METRIC,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock or SystemClock()
        self._queue_metric = queue_metric
        self._busy_metric = busy_metric
        self._lock = threading.Lock()
        self._watched: dict[str, list[int]] = {}
        self._alone: set[int] = set()  # pids sampled without their children
        self._metrics_urls: list[str] = []
        self._procs: dict[int, psutil.Process] = {}
        self._process_samples: list[ProcessSample] = []
        self._metric_samples: list[MetricSample] = []
        self._hwm: dict[str, dict[int, int]] = {}
        self._machine = False
        self._cores = psutil.cpu_count() or 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch_machine(self) -> None:
        """Also sample the whole machine's CPU, as role "machine"."""
        psutil.cpu_percent(None)  # primes the counter
        self._machine = True

    def hwm_bytes(self, role: str) -> int | None:
        """The largest VmHWM seen per process of `role`, summed; None if none was read."""
        with self._lock:
            per_pid = self._hwm.get(role)
            return sum(per_pid.values()) if per_pid else None

    def _read_hwm(self, role: str, pid: int) -> None:
        value = read_hwm_bytes(pid)
        if value is not None:
            with self._lock:
                per_pid = self._hwm.setdefault(role, {})
                per_pid[pid] = max(per_pid.get(pid, 0), value)

    def read_hwm_now(self) -> None:
        """Read every watched process's VmHWM once more (right before stopping them)."""
        with self._lock:
            watched = {role: list(pids) for role, pids in self._watched.items()}
        for role, pids in watched.items():
            for pid in pids:
                self._read_hwm(role, pid)

    def watch(self, role: str, pid: int, *, children: bool = True) -> None:
        """Sample `pid` as `role`, with its descendants unless `children` is False (the
        runner's children are the other roles: counting them again would double them)."""
        with self._lock:
            self._watched.setdefault(role, []).append(pid)
            if not children:
                self._alone.add(pid)

    def scrape(self, url: str) -> None:
        """Also scrape this /metrics URL each tick (several URLs are summed)."""
        with self._lock:
            self._metrics_urls.append(url)

    def process_samples(self) -> list[ProcessSample]:
        with self._lock:
            return list(self._process_samples)

    def metric_samples(self) -> list[MetricSample]:
        with self._lock:
            return list(self._metric_samples)

    def latest(self, role: str) -> ProcessSample | None:
        with self._lock:
            for sample in reversed(self._process_samples):
                if sample.role == role:
                    return sample
        return None

    def latest_metrics(self) -> MetricSample | None:
        with self._lock:
            return self._metric_samples[-1] if self._metric_samples else None

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # primes the CPU counter; the first reading is 0
            except psutil.Error:
                return None
            self._procs[pid] = proc
            return None  # no CPU figure yet
        return proc

    def _sample_role(self, role: str, pids: Sequence[int], t_ns: int) -> ProcessSample | None:
        rss = 0
        cpu = 0.0
        counted = 0
        members: list[int] = []
        for pid in pids:
            tree = [pid]
            if pid not in self._alone:
                with contextlib.suppress(psutil.Error):
                    tree += [c.pid for c in psutil.Process(pid).children(recursive=True)]
            members += tree
        # The exact counters first and together, stamped with the middle of their read.
        before = self._clock.stamp_ns()
        counters = tuple(c for member in members if (c := read_process_cpu(member)))
        cpu_t_ns = (before + self._clock.stamp_ns()) // 2
        for member in members:
            self._read_hwm(role, member)
            proc = self._process(member)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            counted += 1
        if counted == 0:
            return None
        return ProcessSample(
            t_ns=t_ns,
            role=role,
            rss_bytes=rss,
            cpu_percent=cpu,
            processes=counted,
            cpu=counters,
            cpu_t_ns=cpu_t_ns if counters else None,
        )

    def _scrape(self, urls: Sequence[str], t_ns: int) -> MetricSample | None:
        queue = busy = 0.0
        # A counter or gauge the consumer does not export stays None (not 0).
        extra: dict[str, float | None] = dict.fromkeys(_EXTRA_METRICS)
        scraped = 0
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=_SCRAPE_TIMEOUT_S) as response:
                    text = response.read().decode("utf-8", "replace")
            except (OSError, urllib.error.URLError) as exc:
                log.debug("scrape of %s failed: %s", url, exc)
                continue
            values = parse_metrics(text, (self._queue_metric, self._busy_metric, *_EXTRA_METRICS))
            queue += values.get(self._queue_metric, 0.0)
            busy += values.get(self._busy_metric, 0.0)
            for name in _EXTRA_METRICS:
                if name in values:
                    extra[name] = (extra[name] or 0.0) + values[name]
            scraped += 1
        if scraped == 0:
            return None
        return MetricSample(
            t_ns=t_ns,
            queue_depth=queue,
            busy_workers=busy,
            retried=extra[RETRIED_METRIC],
            dead_lettered=extra[DEAD_LETTERED_METRIC],
            lag=extra[LAG_METRIC],
        )

    def sample_once(self) -> None:
        """One tick: every watched role, then every metrics URL."""
        with self._lock:
            watched = {role: list(pids) for role, pids in self._watched.items()}
            urls = list(self._metrics_urls)
        t_ns = self._clock.stamp_ns()
        samples = [
            s for role, pids in watched.items() if (s := self._sample_role(role, pids, t_ns))
        ]
        if self._machine:
            samples.append(
                ProcessSample(
                    t_ns=t_ns,
                    role=MACHINE_ROLE,
                    rss_bytes=0,
                    cpu_percent=psutil.cpu_percent(None) * self._cores,
                    processes=0,
                )
            )
        metric = self._scrape(urls, t_ns) if urls else None
        with self._lock:
            self._process_samples.extend(samples)
            if metric is not None:
                self._metric_samples.append(metric)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:  # a sampling bug must not end the run; it is logged
                log.exception("sampling failed")
            self._stop.wait(self.interval_s)

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
