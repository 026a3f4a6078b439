"""The arithmetic of one measured point: pure functions over receipts and samples.

Nothing here reads a clock, a socket or a process: the runner collects receipts from
the sink, the acknowledged ids from the load generator, the dead letters from Kafka and
samples from the sampler, and `measure` turns them into the numbers of a point. So
every rule is tested exactly on synthetic data.

Rules (throughput and latency: `figures`; the per-second rows: `timeline`):
- Steady-state window: with an adaptive warm-up (`PointInputs.adaptive`), the window the
  runner found (`poolbench.run.steady`: opened once the consumer was steady, `duration`
  long); else from load start + warm-up to the end of the load. A window
  shorter than `MIN_WINDOW_S` or holding fewer than `MIN_WINDOW_EMAILS` emails measured
  nothing: the point is an error, its figures are None.
- Accounting is by id (`accounting.account`); duplicates count once, the earliest
  receipt is the one measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from poolbench.metrics.loop_lag import LoopLag
from poolbench.run.accounting import Accounting, Acked, Ledger, RetentionSample, account
from poolbench.run.budget import TimeBudget, sink_lag_note, time_budget
from poolbench.run.checks import (
    accounting_errors,
    bound_error,
    identity_error,
    queue_wait_note,
    retention_note,
)
from poolbench.run.cpu_cost import CpuCost, cpu_bound, cpu_costs
from poolbench.run.figures import (
    HALVES_TOLERANCE,
    Latencies,
    LoadMode,
    PriorityFigures,
    Throughput,
    backlog_at,
    by_priority,
    distinct_receipts,
    ideal_throughput,
    latencies,
    latency_receipts,
    received_in,
    throughput,
)
from poolbench.run.harness import CONSUMER_ROLE, RoleUse, harness_verdict, role_use
from poolbench.run.samples import (
    MB,
    NS_PER_S,
    MetricSample,
    ProcessSample,
    ReceiptLike,
    Window,
)
from poolbench.run.timeline import TimelineRow, timeline

# A window shorter than this, or holding fewer emails, measured nothing.
MIN_WINDOW_S: Final = 1.0
MIN_WINDOW_EMAILS: Final = 20
# Fewer latency samples than this in the window make the tail percentiles rough.
MIN_WINDOW_SAMPLES: Final = 200
# Load generator lag (actual minus intended send time) that skews the offered load.
LOADGEN_LAG_WARN_MS: Final = 50.0


def steady_window(*, load_start_ns: int, load_end_ns: int, warmup_s: float) -> Window | None:
    """The steady-state window: after the warm-up, up to the end of the load; None if empty."""
    start = load_start_ns + round(warmup_s * NS_PER_S)
    if start >= load_end_ns:
        return None
    return Window(start_ns=start, end_ns=load_end_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """The consumer's memory: the kernel's high-water mark (VmHWM, summed over its
    processes) and the mean of the sampled RSS."""

    peak_mb: float
    mean_mb: float


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
    acked: Sequence[Acked]
    dead_letters: Mapping[str, str] = field(default_factory=dict)
    dead_letters_without_id: int = 0
    retention: Sequence[RetentionSample] = ()
    # The group's committed offsets once its consumers stopped (None: not known).
    committed: Mapping[int, int | None] | None = None
    broker_name: str = "broker"  # "embedded broker" for poolbench's own
    allowed_drops: int = 0  # the scenario's allow.retention_drops
    poison_ids: frozenset[str] = frozenset()
    # Each id's priority (high, normal, low) when the load mixed them; {}: no split.
    priorities: Mapping[str, str] = field(default_factory=dict)
    retried: int = 0
    sink_counter_received: int | None = None
    process_samples: Sequence[ProcessSample] = ()
    metric_samples: Sequence[MetricSample] = ()
    consumer_hwm_bytes: int | None = None  # VmHWM summed over the consumer's processes
    # False: nobody sampled processes (a merge of shards from many hosts), so no memory or
    # CPU figure is expected; True: none sampled is an error.
    resources_sampled: bool = True
    cores: int = 1
    loadgen_lag_p99_ms: float | None = None
    # How late the consumer's and the sink's event loops ran (None: not measured).
    consumer_loop_lag: LoopLag | None = None
    sink_loop_lag: LoopLag | None = None
    measured_until_ns: int | None = None  # end of the timeline (default: the last receipt)
    errors: Sequence[str] = ()
    notes: Sequence[str] = ()
    # The adaptive warm-up's window (`steady.WindowTracker`); None with `adaptive`: the
    # consumer never got steady.
    adaptive: bool = False
    window_ns: tuple[int, int] | None = None
    kept_backlog: int | None = None  # a saturating load's backlog ahead of the group
    consumers_started_ns: int | None = None
    consumers_ready_ns: int | None = None  # ours say "consumer ready"; None: not known


@dataclass(frozen=True, slots=True, kw_only=True)
class StartUp:
    """The consumer's start-up, measured on its own: seconds from its start to being
    ready (None: a foreign consumer does not say), to the first email delivered, and to
    the steady state (after any catch-up; the window opens there)."""

    ready_s: float | None
    first_delivery_s: float | None
    steady_s: float | None


def start_up(
    *, started_ns: int, ready_ns: int | None, first_ns: int | None, window: Window | None
) -> StartUp:
    def since(ns: int | None) -> float | None:
        return None if ns is None else max(0.0, (ns - started_ns) / NS_PER_S)

    return StartUp(
        ready_s=since(ready_ns),
        first_delivery_s=since(first_ns),
        steady_s=None if window is None else since(window.start_ns),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """The numbers of one point (before they become a `poolbench.results.PointResult`).

    `error` set: the point measured nothing usable, and its figures are None.
    """

    mode: LoadMode
    window: Window | None
    error: str | None
    throughput: Throughput | None
    ideal_per_s: float | None  # None: no finite bound (a 0 ms sink under saturation)
    latency: Latencies | None
    budget: TimeBudget | None
    priorities: Mapping[str, PriorityFigures]
    window_samples: int
    accounting: Accounting
    use: Mapping[str, RoleUse]
    memory: Memory | None
    harness_saturated: bool
    timeline: tuple[TimelineRow, ...]
    warnings: tuple[str, ...]
    load_s: float | None = None  # how long the load ran (its end, on the timeline's clock)
    cpu_costs: Mapping[str, CpuCost] = field(default_factory=dict)  # per role, exact
    startup: StartUp | None = None

    @property
    def consumer_cpu_percent(self) -> float | None:
        consumer = self.use.get(CONSUMER_ROLE)
        return None if consumer is None else consumer.cpu_percent


def _window_error(
    window: Window | None, emails: int, warmup_s: float, adaptive: bool = False
) -> str | None:
    if window is None and adaptive:
        return "no steady-state window: nothing was measured"
    if window is None:
        return f"load.warmup {warmup_s:g}s leaves no steady-state window: nothing was measured"
    if window.seconds < MIN_WINDOW_S:
        return (
            f"the steady-state window lasted {window.seconds:.3f}s (< {MIN_WINDOW_S:g}s): "
            "nothing was measured"
        )
    if emails < MIN_WINDOW_EMAILS:
        return (
            f"only {emails} emails were received in the steady-state window "
            f"(< {MIN_WINDOW_EMAILS}): nothing was measured"
        )
    return None


def _accounting_warnings(acc: Accounting, *, commits_known: bool) -> list[str]:
    out = []
    if acc.lost:
        why = (
            "the group committed their offsets, and they were neither delivered nor dead-lettered"
            if commits_known
            else "neither delivered, dead-lettered nor dropped by the broker"
        )
        out.append(f"lost {acc.lost} of {acc.produced} emails: {why} ({', '.join(acc.lost_ids)})")
    out.extend(f"inconsistent: {text}" for text in acc.inconsistencies)
    if acc.poison_not_dead_lettered:
        out.append(f"{acc.poison_not_dead_lettered} poison events were not dead-lettered")
    return out


def _measure_warnings(
    rate: Throughput | None, lat: Latencies | None, samples: int, lag_ms: float | None
) -> list[str]:
    out = []
    if lag_ms is not None and lag_ms > LOADGEN_LAG_WARN_MS:
        out.append(
            f"load generator behind schedule: p99 lag {lag_ms:.0f} ms "
            "(latency still counts from the intended time)"
        )
    if rate is not None and rate.kept_up is False and rate.offered_per_s is not None:
        out.append(
            f"consumer did not keep up: delivered {rate.per_s:.1f}/s of "
            f"{rate.offered_per_s:.1f}/s offered ({rate.per_s / rate.offered_per_s:.0%}), "
            f"backlog grew by {rate.backlog_growth} across the window"
        )
    if rate is not None and not rate.steady:
        out.append(
            f"not steady: the window's halves delivered {rate.first_half_per_s:.1f}/s and "
            f"{rate.second_half_per_s:.1f}/s (> {HALVES_TOLERANCE:.0%} apart)"
        )
    if 0 < samples < MIN_WINDOW_SAMPLES:
        out.append(
            f"only {samples} emails in the steady-state window "
            f"(< {MIN_WINDOW_SAMPLES}): tail percentiles are rough"
        )
    if lat is not None and lat.untimed:
        out.append(f"{lat.untimed} received emails carried no intended send time")
    if lat is not None and lat.unstarted:
        out.append(
            f"{lat.unstarted} emails carried no worker start stamp: no service time for them"
        )
    return out


def measure(inputs: PointInputs) -> Measurement:
    """Turn what one point collected into its numbers."""
    if inputs.adaptive:
        found = inputs.window_ns
        window = None if found is None else Window(start_ns=found[0], end_ns=found[1])
    else:
        window = steady_window(
            load_start_ns=inputs.load_start_ns,
            load_end_ns=inputs.load_end_ns,
            warmup_s=inputs.warmup_s,
        )
    distinct = distinct_receipts(inputs.receipts)
    accounting = account(
        Ledger(
            acked=inputs.acked,
            sink_ids=[r.id for r in inputs.receipts],
            dead_letters=inputs.dead_letters,
            dead_letters_without_id=inputs.dead_letters_without_id,
            retention=inputs.retention,
            committed=inputs.committed,
            poison_ids=inputs.poison_ids,
            retried=inputs.retried,
            sink_counter_received=inputs.sink_counter_received,
        )
    )
    produced_ids = {a.id for a in inputs.acked}
    firsts = [r for r in distinct.first.values() if r.id in produced_ids]
    received = 0 if window is None else len(received_in(firsts, window))
    identity = identity_error(distinct.unidentified, len(distinct.first))
    error = identity or _window_error(window, received, inputs.warmup_s, inputs.adaptive)
    ideal = ideal_throughput(
        workers=inputs.workers,
        instances=inputs.instances,
        mean_latency_s=inputs.mean_sink_latency_s,
        offered_per_s=inputs.offered_per_s,
    )
    last_ns = max((r.received_ns for r in firsts), default=inputs.load_end_ns)
    until = inputs.measured_until_ns or max(last_ns + 1, inputs.load_end_ns)
    # Resources over the whole load, warm-up excluded, drain included (memory peaks there).
    busy_start = window.start_ns if window is not None else inputs.load_start_ns
    busy = Window(start_ns=busy_start, end_ns=max(until, busy_start + 1))
    use = role_use(inputs.process_samples, busy)
    consumer_use = use.get(CONSUMER_ROLE)
    memory = None
    # An unidentifiable consumer first: what follows from it (emails the sink could not
    # match, a drain that never completed) is not its cause.
    errors = [
        *inputs.errors,
        *([identity] if identity else []),
        *accounting_errors(accounting, inputs.broker_name, allowed_drops=inputs.allowed_drops),
    ]
    if consumer_use is None:
        if inputs.resources_sampled:
            errors.append("no memory or CPU sample of the consumer was taken")
    else:
        hwm = inputs.consumer_hwm_bytes
        memory = Memory(
            peak_mb=(hwm / MB) if hwm else consumer_use.peak_rss_mb,
            mean_mb=consumer_use.mean_rss_mb,
        )
    rate = lat = budget = None
    split: dict[str, PriorityFigures] = {}
    samples = 0
    if window is not None and error is None:
        rate = throughput(firsts, window, offered_per_s=inputs.offered_per_s)
        chosen = latency_receipts(firsts, window, inputs.mode)
        lat = latencies(chosen)
        samples = len(chosen)
        if lat.end_to_end is None:
            errors.append(
                f"none of the {samples} emails measured carries an intended send time "
                "(X-Poolbench-Intended-Ns), nor could it be found by id: no latency"
            )
        cycle_ms = None
        if inputs.mode is LoadMode.SATURATE and rate.per_s > 0:
            cycle_ms = 1000.0 * inputs.workers * inputs.instances / rate.per_s
        budget = time_budget(
            chosen,
            cycle_ms=cycle_ms,
            consumer_lag=inputs.consumer_loop_lag,
            sink_lag=inputs.sink_loop_lag,
        )
        above = bound_error(
            per_s=rate.per_s,
            window=window,
            offered_per_s=rate.offered_per_s,
            ideal_per_s=ideal,
            in_flight=backlog_at(firsts, window.start_ns),
        )
        if above is not None:
            errors.append(above)
        split = by_priority(firsts, window, inputs.mode, inputs.priorities)
    elif identity is None:
        errors.append(error or "nothing was measured")
    share = (rate.per_s / ideal) if (rate is not None and ideal) else None
    verdict = harness_verdict(use, cores=inputs.cores, throughput_share=share)
    costs = (
        {}
        if window is None
        else cpu_costs(inputs.process_samples, window, [r.received_ns for r in firsts])
    )
    bound = cpu_bound(costs)
    rows = timeline(
        firsts,
        origin_ns=inputs.load_start_ns,
        end_ns=until,
        process_samples=inputs.process_samples,
        metric_samples=inputs.metric_samples,
        priorities=inputs.priorities,
    )
    warnings = [f"error: {text}" for text in errors]
    warnings += _accounting_warnings(accounting, commits_known=inputs.committed is not None)
    warnings += list(inputs.notes)
    drops = retention_note(accounting, inputs.broker_name, allowed_drops=inputs.allowed_drops)
    warnings += [] if drops is None else [drops]
    # A part named CPU-bound by its busiest thread is not named again by the coarser
    # per-process rule of the harness verdict.
    named = {line.split(" CPU-bound:")[0] for line in bound}
    warnings += [w for w in verdict.warnings if w.split(" CPU-bound:")[0] not in named]
    warnings += bound
    warnings += _measure_warnings(rate, lat, samples, inputs.loadgen_lag_p99_ms)
    lag_note = None if budget is None else sink_lag_note(budget)
    if lag_note is not None:
        warnings.append(lag_note)
    if inputs.mode is LoadMode.SATURATE:
        note = queue_wait_note(lat, inputs.kept_backlog)
        warnings += [] if note is None else [note]
    return Measurement(
        mode=inputs.mode,
        window=window,
        error="; ".join(errors) if errors else None,
        throughput=rate,
        ideal_per_s=ideal,
        latency=lat,
        budget=budget,
        priorities=split,
        window_samples=samples,
        accounting=accounting,
        use=use,
        memory=memory,
        # A sink or load generator thread at a full core may set the figure too.
        harness_saturated=verdict.saturated or any(not w.startswith("consumer") for w in bound),
        timeline=tuple(rows),
        warnings=tuple(warnings),
        load_s=max(0.0, (inputs.load_end_ns - inputs.load_start_ns) / NS_PER_S),
        cpu_costs=costs,
        startup=None
        if inputs.consumers_started_ns is None
        else start_up(
            started_ns=inputs.consumers_started_ns,
            ready_ns=inputs.consumers_ready_ns,
            first_ns=min((r.received_ns for r in firsts), default=None),
            window=window,
        ),
    )
