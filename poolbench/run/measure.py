"""The arithmetic of one measured point: pure functions over receipts and samples.

Nothing here reads a clock, a socket or a process: the runner collects receipts from
the sink, samples from the sampler and counters from the consumer and the load
generator, and these functions turn them into the numbers of a point. So every rule
below is tested exactly on synthetic data.

Rules (see issue 6):
- Steady-state window: from load start + warm-up to the end of the load.
- Open-model load: a receipt belongs to the window by its *intended* send time, so a
  backlog that drains after the load ended still counts against its own send time, and
  its latency (received - intended) carries the whole wait: coordinated omission is
  corrected. If the consumer did not keep up (much of the window arrived after the load
  ended and the rate by receive time is clearly lower), the throughput is the rate by
  receive time, with a warning.
- Saturating load: the consumer sets the pace, so receipts count by *received* time.
- Latency is end to end, received - intended, recorded in an HdrHistogram (<= 1% error);
  when the consumer stamps the worker start time, it splits into waiting
  (started - intended) and sending (received - started).
- Except under a saturating load: there the end-to-end time is the standing backlog
  divided by the throughput (Little's law), a property of the harness's backlog, not of
  the consumer. So the latency of a saturating point is the time from the worker's start
  to the sink's receipt (what the seed's table calls latency), and the end-to-end split
  is still reported as wait/send. Receipts without a start stamp (a foreign consumer)
  fall back to end to end, with a warning.
- Duplicates (the same id received twice) count once; the first receipt is the one
  measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Generic, Protocol, TypeVar

from poolbench.broker import attribute_broker_drops
from poolbench.errors import ConfigError
from poolbench.metrics.histogram import LatencyHistogram, LatencySummary

NS_PER_S: Final = 1_000_000_000
MB: Final = 1_000_000

# A harness part above this share of one core measures itself, not the consumer.
SATURATED_CPU_PERCENT: Final = 90.0
# Fewer latency samples than this in the window make p99 a guess.
MIN_WINDOW_SAMPLES: Final = 200
# Load generator lag (actual minus intended send time) that skews the offered load.
LOADGEN_LAG_WARN_MS: Final = 50.0
# Open model: the consumer "fell behind" when more than BACKLOG_SHARE of the window's
# emails arrived after the load ended, the rate by receive time is below
# FELL_BEHIND_RATIO of the rate by intended time, and draining the window's emails went
# on for more than DRAIN_SHARE of the window after it (a short stall that is caught up
# quickly is not falling behind: its latency shows it).
BACKLOG_SHARE: Final = 0.05
FELL_BEHIND_RATIO: Final = 0.9
DRAIN_SHARE: Final = 0.25


class ReceiptLike(Protocol):
    """What the sink records per accepted email (`poolbench.sink.Receipt` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def intended_ns(self) -> int | None: ...

    @property
    def started_ns(self) -> int | None: ...

    @property
    def received_ns(self) -> int: ...


R = TypeVar("R", bound=ReceiptLike)


class LoadMode(StrEnum):
    OPEN = "open"  # a schedule of intended send times, independent of the consumer
    SATURATE = "saturate"  # a standing backlog: the consumer sets the pace


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A half-open interval [start_ns, end_ns) of wall-clock nanoseconds."""

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


def steady_window(*, load_start_ns: int, load_end_ns: int, warmup_s: float) -> Window:
    """The steady-state window: after the warm-up, up to the end of the load."""
    start = load_start_ns + round(warmup_s * NS_PER_S)
    if start >= load_end_ns:
        length = (load_end_ns - load_start_ns) / NS_PER_S
        raise ConfigError(
            f"load.warmup: {warmup_s:g}s leaves no steady-state window in a load of {length:g}s"
        )
    return Window(start_ns=start, end_ns=load_end_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Distinct(Generic[R]):
    """The first receipt of each id, and how many receipts repeated an id already seen."""

    first: dict[str, R]
    duplicates: int
    unidentified: int  # receipts without an id: neither counted nor measured


def distinct_receipts(receipts: Iterable[R]) -> Distinct[R]:
    first: dict[str, R] = {}
    duplicates = 0
    unidentified = 0
    for receipt in receipts:
        if not receipt.id:
            unidentified += 1
            continue
        seen = first.get(receipt.id)
        if seen is None:
            first[receipt.id] = receipt
            continue
        duplicates += 1
        if receipt.received_ns < seen.received_ns:
            first[receipt.id] = receipt
    return Distinct(first=first, duplicates=duplicates, unidentified=unidentified)


def in_window(receipts: Iterable[R], window: Window, mode: LoadMode) -> list[R]:
    """Receipts of the window: by intended time (open model) or received time (saturate)."""
    if mode is LoadMode.OPEN:
        return [r for r in receipts if r.intended_ns is not None and r.intended_ns in window]
    return [r for r in receipts if r.received_ns in window]


@dataclass(frozen=True, slots=True, kw_only=True)
class Throughput:
    per_s: float  # the point's throughput
    by_intended_per_s: float  # window emails (by intended time) / window length
    by_received_per_s: float  # emails received inside the window / window length
    late: int  # window emails received after the window ended
    fell_behind: bool  # open model only: the consumer did not keep up


def throughput(receipts: Sequence[ReceiptLike], window: Window, mode: LoadMode) -> Throughput:
    """Distinct emails per second in the window; `receipts` holds one receipt per id."""
    received = sum(1 for r in receipts if r.received_ns in window)
    by_received = received / window.seconds
    if mode is LoadMode.SATURATE:
        return Throughput(
            per_s=by_received,
            by_intended_per_s=0.0,
            by_received_per_s=by_received,
            late=0,
            fell_behind=False,
        )
    selected = in_window(receipts, window, LoadMode.OPEN)
    by_intended = len(selected) / window.seconds
    late = sum(1 for r in selected if r.received_ns >= window.end_ns)
    last_ns = max((r.received_ns for r in selected), default=window.end_ns)
    fell_behind = (
        late > BACKLOG_SHARE * len(selected)
        and by_received < FELL_BEHIND_RATIO * by_intended
        and (last_ns - window.end_ns) > DRAIN_SHARE * (window.end_ns - window.start_ns)
    )
    return Throughput(
        per_s=by_received if fell_behind else by_intended,
        by_intended_per_s=by_intended,
        by_received_per_s=by_received,
        late=late,
        fell_behind=fell_behind,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Latencies:
    end_to_end: LatencySummary
    wait: LatencySummary | None  # started - intended: Kafka, poll and the pool's queue
    send: LatencySummary | None  # received - started: rendering and SMTP
    histogram: str  # the `end_to_end` histogram, encoded (LatencyHistogram.encode)
    untimed: int  # receipts without an intended time (not measurable)
    unstarted: int = 0  # saturating load: receipts measured end to end (no start stamp)


def latency_ns(receipt: ReceiptLike, mode: LoadMode) -> int | None:
    """The point's latency of one receipt (see the module doc); None if not measurable."""
    if mode is LoadMode.SATURATE and receipt.started_ns is not None:
        return receipt.received_ns - receipt.started_ns
    if receipt.intended_ns is None:
        return None
    return receipt.received_ns - receipt.intended_ns


def latencies(receipts: Iterable[ReceiptLike], mode: LoadMode = LoadMode.OPEN) -> Latencies:
    main, wait, send = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    untimed = 0
    unstarted = 0
    for r in receipts:
        value = latency_ns(r, mode)
        if value is None:
            untimed += 1
            continue
        main.record_ns(value)
        if r.started_ns is None:
            unstarted += 1
        elif r.intended_ns is not None:
            wait.record_ns(r.started_ns - r.intended_ns)
            send.record_ns(r.received_ns - r.started_ns)
    split = wait.count > 0
    return Latencies(
        end_to_end=main.summary(),
        wait=wait.summary() if split else None,
        send=send.summary() if split else None,
        histogram=main.encode(),
        untimed=untimed,
        unstarted=unstarted if mode is LoadMode.SATURATE else 0,
    )


def ideal_throughput(
    *, workers: int, mean_latency_s: float, offered_per_s: float | None, instances: int = 1
) -> float:
    """min(workers / mean sink latency, offered rate); 0.0 when there is no finite bound.

    `offered_per_s` is None for a saturating load (only the workers bound it).
    """
    bound = workers * instances / mean_latency_s if mean_latency_s > 0 else math.inf
    if offered_per_s is not None:
        bound = min(bound, offered_per_s)
    return 0.0 if math.isinf(bound) else bound


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounting:
    produced: int
    delivered: int  # distinct ids at the sink
    duplicates: int
    retried: int
    dead_lettered: int  # includes poison events, which belong there
    dropped_by_broker: int  # lost by the harness (broker retention), not the consumer
    poison: int  # deliberately invalid events produced

    @property
    def lost(self) -> int:
        accounted = self.delivered + self.dead_lettered + self.dropped_by_broker
        return max(0, self.produced - accounted)

    @property
    def poison_not_dead_lettered(self) -> int:
        """Poison events that did not reach the dead-letter topic (they can't be delivered)."""
        return max(0, self.poison - self.dead_lettered)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSample:
    """One sampling tick of one role ("consumer", "loadgen", ...), summed over its processes."""

    t_ns: int
    role: str
    rss_bytes: int
    cpu_percent: float  # 100 = one core
    processes: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSample:
    """One scrape of the consumer's /metrics."""

    t_ns: int
    queue_depth: float
    busy_workers: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceUse:
    peak_rss_mb: float
    mean_rss_mb: float
    cpu_percent: float
    samples: int


def resource_use(samples: Iterable[ProcessSample], role: str, window: Window) -> ResourceUse:
    """Peak and mean RSS and mean CPU% of one role over the samples taken in the window."""
    chosen = [s for s in samples if s.role == role and s.t_ns in window]
    if not chosen:
        return ResourceUse(peak_rss_mb=0.0, mean_rss_mb=0.0, cpu_percent=0.0, samples=0)
    return ResourceUse(
        peak_rss_mb=max(s.rss_bytes for s in chosen) / MB,
        mean_rss_mb=sum(s.rss_bytes for s in chosen) / len(chosen) / MB,
        cpu_percent=sum(s.cpu_percent for s in chosen) / len(chosen),
        samples=len(chosen),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    t_s: float  # start of the second, from the load start
    delivered_per_s: float  # distinct emails received in that second
    p99_ms: float  # end-to-end p99 of the emails received in that second
    queue_depth: float  # mean of the consumer's queue-length scrapes in that second
    rss_mb: float  # peak consumer RSS sampled in that second


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> float:
    """The nearest-rank percentile of already sorted values; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(percentile / 100.0 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def timeline(
    receipts: Iterable[ReceiptLike],
    *,
    origin_ns: int,
    end_ns: int,
    process_samples: Iterable[ProcessSample] = (),
    metric_samples: Iterable[MetricSample] = (),
    role: str = "consumer",
    bin_s: float = 1.0,
    mode: LoadMode = LoadMode.OPEN,
) -> list[TimelineRow]:
    """Per-`bin_s` rows from `origin_ns` (the load start) up to `end_ns`, by received time."""
    bin_ns = round(bin_s * NS_PER_S)
    bins = max(1, math.ceil((end_ns - origin_ns) / bin_ns))

    def index(ns: int) -> int | None:
        i = (ns - origin_ns) // bin_ns
        return i if 0 <= i < bins else None

    latency_ms: list[list[float]] = [[] for _ in range(bins)]
    for r in receipts:
        i = index(r.received_ns)
        if i is None:
            continue
        value = latency_ns(r, mode)
        latency_ms[i].append(value / 1e6 if value is not None else math.nan)
    queue: list[list[float]] = [[] for _ in range(bins)]
    for m in metric_samples:
        i = index(m.t_ns)
        if i is not None:
            queue[i].append(m.queue_depth)
    rss = [0] * bins
    for s in process_samples:
        i = index(s.t_ns)
        if i is not None and s.role == role:
            rss[i] = max(rss[i], s.rss_bytes)
    rows = []
    for i in range(bins):
        timed = sorted(v for v in latency_ms[i] if not math.isnan(v))
        rows.append(
            TimelineRow(
                t_s=i * bin_s,
                delivered_per_s=len(latency_ms[i]) / bin_s,
                p99_ms=max(0.0, nearest_rank(timed, 99.0)),
                queue_depth=sum(queue[i]) / len(queue[i]) if queue[i] else 0.0,
                rss_mb=rss[i] / MB,
            )
        )
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class HarnessLoad:
    """How hard the harness parts worked: to tell when they, not the consumer, were the limit."""

    sink_cpu_percent: float | None = None
    sink_processes: int = 1
    loadgen_cpu_percent: float | None = None
    loadgen_lag_p99_ms: float | None = None


def warnings_for(
    *,
    accounting: Accounting,
    harness: HarnessLoad,
    window_samples: int,
    throughput: Throughput | None = None,
    unidentified: int = 0,
    untimed: int = 0,
    unstarted: int = 0,
    errors: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> tuple[str, ...]:
    """Plain sentences, most serious first. `notes` explain losses (from the consumer)."""
    out = [f"error: {text}" for text in errors]
    if accounting.lost:
        out.append(
            f"lost {accounting.lost} of {accounting.produced} emails "
            "(neither delivered, dead-lettered nor dropped by the broker)"
        )
    out.extend(notes)
    if accounting.dropped_by_broker:
        out.append(
            f"the broker dropped {accounting.dropped_by_broker} messages before they were "
            "consumed (retention); they are not counted as the consumer's losses"
        )
    if accounting.poison_not_dead_lettered:
        out.append(f"{accounting.poison_not_dead_lettered} poison events were not dead-lettered")
    sink = harness.sink_cpu_percent
    if sink is not None and sink > SATURATED_CPU_PERCENT * max(1, harness.sink_processes):
        out.append(
            f"sink CPU {sink:.0f}% over {harness.sink_processes} process(es): the SMTP sink "
            "was saturated, this point measures the harness"
        )
    if harness.loadgen_cpu_percent is not None and harness.loadgen_cpu_percent > (
        SATURATED_CPU_PERCENT
    ):
        out.append(f"load generator CPU {harness.loadgen_cpu_percent:.0f}%: it was saturated")
    lag = harness.loadgen_lag_p99_ms
    if lag is not None and lag > LOADGEN_LAG_WARN_MS:
        out.append(
            f"load generator behind schedule: p99 lag {lag:.0f} ms "
            "(latency still counts from the intended time)"
        )
    if throughput is not None and throughput.fell_behind:
        out.append(
            f"consumer fell behind the offered rate: {throughput.late} window emails arrived "
            f"after the load ended; throughput by receive time "
            f"{throughput.by_received_per_s:.1f}/s vs offered "
            f"{throughput.by_intended_per_s:.1f}/s"
        )
    if window_samples < MIN_WINDOW_SAMPLES:
        out.append(
            f"only {window_samples} emails in the steady-state window "
            f"(< {MIN_WINDOW_SAMPLES}): tail percentiles are rough"
        )
    if unidentified:
        out.append(f"{unidentified} received emails carried no poolbench id")
    if untimed:
        out.append(f"{untimed} received emails carried no intended send time")
    if unstarted:
        out.append(
            f"{unstarted} emails carried no worker start time: under a saturating load their "
            "latency includes the wait in the backlog"
        )
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointInputs:
    """Everything collected while one point ran."""

    receipts: Sequence[ReceiptLike]
    mode: LoadMode
    load_start_ns: int
    load_end_ns: int
    warmup_s: float
    workers: int
    instances: int = 1
    mean_sink_latency_s: float
    offered_per_s: float | None  # None for a saturating load
    produced: int
    retried: int = 0
    dead_lettered: int = 0
    dropped_by_broker: int = 0
    poison: int = 0
    process_samples: Sequence[ProcessSample] = ()
    metric_samples: Sequence[MetricSample] = ()
    harness: HarnessLoad = HarnessLoad()
    measured_until_ns: int | None = None  # end of the timeline (default: the last receipt)
    errors: Sequence[str] = ()
    notes: Sequence[str] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """The numbers of one point (before they become a `poolbench.results.PointResult`)."""

    window: Window
    throughput: Throughput
    ideal_per_s: float
    latency: Latencies
    window_samples: int
    accounting: Accounting
    consumer: ResourceUse
    loadgen: ResourceUse
    harness: HarnessLoad
    timeline: tuple[TimelineRow, ...]
    warnings: tuple[str, ...]


def measure(inputs: PointInputs) -> Measurement:
    """Turn what one point collected into its numbers."""
    window = steady_window(
        load_start_ns=inputs.load_start_ns,
        load_end_ns=inputs.load_end_ns,
        warmup_s=inputs.warmup_s,
    )
    distinct = distinct_receipts(inputs.receipts)
    firsts = list(distinct.first.values())
    rate = throughput(firsts, window, inputs.mode)
    selected = in_window(firsts, window, inputs.mode)
    lat = latencies(selected, inputs.mode)
    accounting = Accounting(
        produced=inputs.produced,
        delivered=len(firsts),
        duplicates=distinct.duplicates,
        retried=inputs.retried,
        dead_lettered=inputs.dead_lettered,
        # The watermark count also covers messages delivered before retention removed
        # them: blame the broker only for what is really missing.
        dropped_by_broker=attribute_broker_drops(
            inputs.dropped_by_broker, inputs.produced, len(firsts), inputs.dead_lettered
        ),
        poison=inputs.poison,
    )
    # Resources over the whole load, warm-up excluded, drain included (memory peaks there).
    last_ns = max((r.received_ns for r in firsts), default=inputs.load_end_ns)
    until = inputs.measured_until_ns or max(last_ns + 1, inputs.load_end_ns)
    busy = Window(start_ns=window.start_ns, end_ns=max(until, window.end_ns))
    consumer = resource_use(inputs.process_samples, "consumer", busy)
    loadgen = resource_use(inputs.process_samples, "loadgen", window)
    harness = inputs.harness
    if harness.loadgen_cpu_percent is None and loadgen.samples:
        harness = HarnessLoad(
            sink_cpu_percent=harness.sink_cpu_percent,
            sink_processes=harness.sink_processes,
            loadgen_cpu_percent=loadgen.cpu_percent,
            loadgen_lag_p99_ms=harness.loadgen_lag_p99_ms,
        )
    rows = timeline(
        firsts,
        origin_ns=inputs.load_start_ns,
        end_ns=until,
        process_samples=inputs.process_samples,
        metric_samples=inputs.metric_samples,
        mode=inputs.mode,
    )
    return Measurement(
        window=window,
        throughput=rate,
        ideal_per_s=ideal_throughput(
            workers=inputs.workers,
            instances=inputs.instances,
            mean_latency_s=inputs.mean_sink_latency_s,
            offered_per_s=inputs.offered_per_s,
        ),
        latency=lat,
        window_samples=lat.end_to_end.count,
        accounting=accounting,
        consumer=consumer,
        loadgen=loadgen,
        harness=harness,
        timeline=tuple(rows),
        warnings=warnings_for(
            accounting=accounting,
            harness=harness,
            window_samples=lat.end_to_end.count,
            throughput=rate,
            unidentified=distinct.unidentified,
            untimed=lat.untimed,
            unstarted=lat.unstarted,
            errors=inputs.errors,
            notes=inputs.notes,
        ),
    )
