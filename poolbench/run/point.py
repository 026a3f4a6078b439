"""Run ONE point of a scenario, in phases: plan, start, load, drain, stop, collect, measure.

1. plan (`plan.plan_point`, pure): topics, group, sink config, load spec, consumers.
2. start (`consumers`): the consumer process(es), each from a clean environment with
   its settings in one JSON file, its output kept in `<consumer>.log`; wait until each
   says it has its partitions ("consumer ready") -- a foreign consumer gets a settle time.
3. load: the SMTP sink and the load generator, each in processes of their own (so
   their CPU is their own and neither shares this process's GIL); the load starts
   `SINK_LEAD_S` after the sink, so a scenario's outage `at: 8s` falls 8 s into the load.
4. drain: until every acknowledged email is delivered or dead-lettered, as long as that
   keeps moving (`load.drain` is the longest pause allowed, within a cap).
5. stop the consumers (SIGTERM, then SIGKILL), 6. collect receipts, dead letters,
   retention samples, summaries, CPU and memory, 7. `measure` turns them into numbers.

A part that cannot start raises `RunError` after everything started is stopped. A
consumer that dies during the load does not end the run: the point is recorded, with
the error first among its warnings, and with its losses.

Why one module of ~480 lines: the phases above share one context (the point's processes,
readers and stop signal) and `run_point` runs them top to bottom, so the order reads in
the code; what each phase calls lives in modules of its own (plan, consumers, processes,
warmup, checks, measure).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil

from poolbench.errors import RunError
from poolbench.loadgen import LoadReport
from poolbench.loadgen.process import LoadProcess
from poolbench.metrics.clock import clock_pair, stamp_ns
from poolbench.metrics.loop_lag import LoopLag
from poolbench.run.accounting import Acked
from poolbench.run.consumers import (
    NOT_CONSUMING_MARK,
    dead_consumers,
    effective_settings,
    not_consuming,
    read_summaries,
    start_consumers,
    stop_consumers,
    wait_ready,
)
from poolbench.run.foreign_clock import on_our_clock
from poolbench.run.kafka_reader import PointReader, timed_by_id
from poolbench.run.measure import Measurement, PointInputs, measure
from poolbench.run.plan import SINK_LEAD_S, PointPlan, plan_point
from poolbench.run.processes import ChildProcess, ProcessSet
from poolbench.run.progress import PointProgress, Progress
from poolbench.run.sampler import Sampler
from poolbench.run.steady import WindowTracker
from poolbench.run.warmup import StartUpClock, watch_warmup
from poolbench.scenario import Point
from poolbench.sink import SinkServer

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S: Final = 0.5
# The drain waits while emails keep arriving: it ends when all are accounted for, when
# nothing moved for `load.drain`, or at DRAIN_CAP_FACTOR x `load.drain` (at least
# DRAIN_CAP_MIN_S) -- a slow consumer's backlog is drained, not counted as lost.
DRAIN_CAP_FACTOR: Final = 10.0
DRAIN_CAP_MIN_S: Final = 60.0
_LOAD_START_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PointContext:
    """What a point needs from the run around it."""

    bootstrap_servers: str
    create_topic: Callable[[str, int], None]  # the embedded broker's, or ensure_topics
    run_id: str
    sequence: int  # this point's number in the run, for unique topic and group names
    ready_timeout_s: float = 60.0
    grace_s: float = 10.0
    sample_interval_s: float = 0.25
    workdir: Path | None = None  # where logs and summaries go (default: a temporary folder)
    broker_pid: int | None = None  # the embedded broker's process, to measure its CPU
    # Our consumer's interpreter and the folder holding its `poolbench` package (None:
    # this one): `poolbench compare` runs another checkout's consumer with these.
    consumer_python: str = sys.executable
    consumer_pythonpath: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # added to every consumer's
    # The settings fields that consumer knows (None: all of ours): an older checkout's
    # consumer rejects a settings file with fields added since.
    consumer_fields: frozenset[str] | None = None
    # The embedded broker's record of the topics a group joined for (None: a real
    # cluster, which does not say), to tell why a foreign consumer received nothing.
    joined_topics: Callable[[str], frozenset[str] | None] | None = None


def reserve_port(host: str = "127.0.0.1") -> int:
    """A free TCP port (the kernel's pick); free again when this returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _workdir(ctx: PointContext) -> Iterator[Path]:
    if ctx.workdir is not None:
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        yield ctx.workdir
        return
    with tempfile.TemporaryDirectory(prefix="poolbench-point-") as tmp:
        yield Path(tmp)


def _plan_phase(point: Point, ctx: PointContext, *, work: Path, private: Path) -> PointPlan:
    """The point's plan, and its topics created."""
    plan = plan_point(
        point,
        bootstrap_servers=ctx.bootstrap_servers,
        run_id=ctx.run_id,
        sequence=ctx.sequence,
        workdir=work,
        private_dir=private,
        reserve_port=reserve_port,
        python=ctx.consumer_python,
        pythonpath=ctx.consumer_pythonpath,
    )
    ctx.create_topic(plan.topic, plan.partitions)
    ctx.create_topic(plan.dlq, 1)
    return plan


def _start_phase(
    plan: PointPlan,
    ctx: PointContext,
    *,
    processes: ProcessSet,
    sampler: Sampler,
    stop: threading.Event,
) -> list[ChildProcess]:
    """Sampling started and the consumers running and ready."""
    sampler.watch_machine()
    sampler.watch("runner", os.getpid(), children=False)
    if ctx.broker_pid is not None:
        sampler.watch("broker", ctx.broker_pid)
    consumers = start_consumers(
        plan,
        processes,
        sampler,
        extra_env=ctx.extra_env,
        consumer_fields=ctx.consumer_fields,
    )
    wait_ready(consumers, plan, ready_timeout_s=ctx.ready_timeout_s, stop=stop)
    return consumers


def broker_alive(ctx: PointContext) -> None:
    """`RunError` once the embedded broker's process is gone: nothing can be measured
    any more, and waiting on it would only run into every Kafka timeout in turn."""
    if ctx.broker_pid is None:
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        if psutil.Process(ctx.broker_pid).status() != psutil.STATUS_ZOMBIE:
            return
    raise RunError(f"the embedded broker (pid {ctx.broker_pid}) exited during the point")


def _load_phase(
    plan: PointPlan,
    ctx: PointContext,
    *,
    sink: SinkServer,
    work: Path,
    sampler: Sampler,
    reader: PointReader,
    consumers: list[ChildProcess],
    progress: Progress,
    stop: threading.Event,
    errors: list[str],
    tracker: WindowTracker | None,
    startup: StartUpClock,
) -> LoadReport:
    lead_s = sink.started + SINK_LEAD_S - time.monotonic()
    # The load generator waits for a wall time (its --start-at-ns); the same instant on
    # the stamps' clock, from a pair read together, is what the warm-up counts from.
    pair = clock_pair()
    lead_ns = round(max(0.0, lead_s) * 1e9)
    start_at, start_stamp = pair.wall_ns + lead_ns, pair.monotonic_ns + lead_ns
    with LoadProcess(
        plan.load,
        bootstrap_servers=ctx.bootstrap_servers,
        report_path=work / "load-report.json",
        start_at_wall_ns=start_at,
    ) as load:
        sampler.watch("loadgen", load.pid)
        load.wait_ready(_LOAD_START_TIMEOUT_S)
        progress.load_started = time.monotonic() + max(0, start_stamp - stamp_ns()) / 1e9
        longest = plan.warmup_max_s + plan.duration_s if plan.adaptive else plan.total_s
        deadline = time.monotonic() + max(0.0, lead_s) + longest + _LOAD_START_TIMEOUT_S
        while load.wait(PROGRESS_INTERVAL_S) is None:
            broker_alive(ctx)
            if stop.is_set():
                load.stop()
            reader.sample_retention()
            delivered = progress.report("load", sink=sink, sampler=sampler)
            dead_consumers(consumers, errors, "load")
            if not_consuming(
                plan,
                consumers,
                progress.load_started,
                delivered,
                errors,
                joined_topics=ctx.joined_topics,
            ):
                load.stop()
            if watch_warmup(tracker, sink, startup, start_stamp):
                load.stop()  # the window is complete, or it never got steady
            if all(not c.running for c in consumers):
                load.stop()  # nothing is left to consume it
            if time.monotonic() > deadline:
                load.stop()
                errors.append("the load generator ran past its schedule and was stopped")
        report = load.report()
    if tracker is not None and tracker.never_steady is not None:
        errors.append(tracker.never_steady)
    if report.start_wall_ns > start_at + 50_000_000:
        errors.append(
            f"the load started {(report.start_wall_ns - start_at) / 1e6:.0f} ms late "
            "(the load generator was slow to start): outages and warm-up are shifted"
        )
    return report


def _drain_phase(
    plan: PointPlan,
    ctx: PointContext,
    *,
    report: LoadReport,
    sink: SinkServer,
    sampler: Sampler,
    reader: PointReader,
    consumers: list[ChildProcess],
    progress: Progress,
    stop: threading.Event,
    errors: list[str],
) -> None:
    if any(e.startswith(NOT_CONSUMING_MARK) for e in errors):
        return  # nothing was consumed: there is nothing to wait for
    drain_s = plan.drain_s
    started = time.monotonic()
    idle_deadline = started + drain_s
    cap = started + max(DRAIN_CAP_MIN_S, DRAIN_CAP_FACTOR * drain_s)
    last_done = -1
    while not stop.is_set():
        broker_alive(ctx)
        delivered = progress.report(
            "drain", sink=sink, sampler=sampler, produced=report.acknowledged
        )
        reader.sample_retention()
        done = delivered + reader.read_dead_letters()
        now = time.monotonic()
        if done >= report.acknowledged or all(not c.running for c in consumers):
            return
        if done > last_done:
            last_done, idle_deadline = done, now + drain_s
        if now >= idle_deadline or now >= cap:
            why = "nothing moved" if now >= idle_deadline else "still moving"
            errors.append(
                f"drain stopped after {now - started:.0f}s ({why} for {drain_s:g}s): "
                f"{report.acknowledged - done} emails neither delivered nor dead-lettered"
            )
            return
        time.sleep(PROGRESS_INTERVAL_S)


def run_point(
    point: Point,
    ctx: PointContext,
    *,
    on_progress: Callable[[PointProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[Measurement, dict[str, Any]]:
    """Measure one point; every process it started is stopped when it returns.

    Returns the measurement and the consumer's effective settings (secrets masked).
    """
    stop = stop or threading.Event()
    errors: list[str] = []
    notes: list[str] = []
    with (
        _workdir(ctx) as work,
        tempfile.TemporaryDirectory(prefix="poolbench-private-") as private,
    ):
        plan = _plan_phase(point, ctx, work=work, private=Path(private))
        notes.extend(plan.warnings)
        progress = Progress(plan, on_progress)
        progress.report("starting")
        with (
            ProcessSet(grace_s=ctx.grace_s) as processes,
            Sampler(interval_s=ctx.sample_interval_s) as sampler,
            PointReader(
                bootstrap_servers=ctx.bootstrap_servers,
                topic=plan.topic,
                partitions=plan.partitions,
                dlq=plan.dlq,
                group=plan.group,
            ) as reader,
        ):
            startup = StartUpClock(started_ns=stamp_ns())
            consumers = _start_phase(plan, ctx, processes=processes, sampler=sampler, stop=stop)
            if all(c.settings is not None for c in plan.consumers):
                startup.ready_ns = stamp_ns()  # ours said "consumer ready"
            tracker = (
                WindowTracker(
                    warmup_s=plan.warmup_s,
                    warmup_max_s=plan.warmup_max_s,
                    duration_s=plan.duration_s,
                )
                if plan.adaptive
                else None
            )
            with SinkServer(plan.sink) as sink:
                for pid in sink.pids():
                    sampler.watch("sink", pid)
                report = _load_phase(
                    plan,
                    ctx,
                    sink=sink,
                    work=work,
                    sampler=sampler,
                    reader=reader,
                    consumers=consumers,
                    progress=progress,
                    stop=stop,
                    errors=errors,
                    tracker=tracker,
                    startup=startup,
                )
                _drain_phase(
                    plan,
                    ctx,
                    report=report,
                    sink=sink,
                    sampler=sampler,
                    reader=reader,
                    consumers=consumers,
                    progress=progress,
                    stop=stop,
                    errors=errors,
                )
                drain_end_ns = stamp_ns()
                progress.report("stopping")
                stop_consumers(consumers, sampler, ctx.grace_s, errors)
                receipts = sink.receipts()
                counters = sink.counters()
                sink_lag = sink.loop_lag()
            reader.sample_retention()
            committed = reader.committed()  # final: every consumer has stopped
            reader.drain_dead_letters()
            receipts = timed_by_id(receipts, reader, notes)
            receipts = on_our_clock(receipts, clock_pair(), notes)
            errors.extend(reader.errors)
        summaries = read_summaries(plan.consumers)
        settings = effective_settings(plan, summaries)
    return _measure(
        plan,
        report=report,
        receipts=receipts,
        sink_received=counters.received,
        reader=reader,
        sampler=sampler,
        summaries=summaries,
        drain_end_ns=drain_end_ns,
        errors=errors,
        notes=notes,
        sink_lag=sink_lag,
        interrupted=stop.is_set(),
        committed=committed,
        broker_name="embedded broker" if ctx.broker_pid is not None else "broker",
        tracker=tracker,
        startup=startup,
    ), settings


def consumer_loop_lag(summaries: Sequence[dict[str, Any]]) -> LoopLag | None:
    """The consumer's loop lag from its exit summary (its whole run: warm-up and drain
    included); of several instances, the one with the highest p99. None: not reported
    (a foreign consumer, or an old poolbench)."""
    lags = []
    for doc in summaries:
        lag = doc.get("loop_lag")
        if isinstance(lag, dict):
            try:
                lags.append(LoopLag.from_dict(lag))
            except (KeyError, ValueError):
                continue
    return max(lags, key=lambda lag: lag.p99_ms, default=None)


def _measure(
    plan: PointPlan,
    *,
    report: LoadReport,
    receipts: Sequence[Any],
    sink_received: int,
    reader: PointReader,
    sampler: Sampler,
    summaries: Sequence[dict[str, Any]],
    drain_end_ns: int,
    errors: list[str],
    notes: list[str],
    sink_lag: LoopLag | None = None,
    interrupted: bool,
    committed: dict[int, int | None] | None,
    broker_name: str,
    tracker: WindowTracker | None,
    startup: StartUpClock,
) -> Measurement:
    left = sum(int(doc.get("left_uncommitted", 0)) for doc in summaries)
    if left:
        notes.append(
            f"the consumer left {left} emails uncommitted at exit (failed for now, "
            "not dead-lettered): Kafka redelivers them to the next consumer"
        )
    if report.stopped_early and interrupted:
        errors.append("stopped before the load ended (Ctrl-C)")
    if not report.complete:
        errors.append(
            f"the broker acknowledged {report.acknowledged} of {report.produced} emails "
            f"({report.delivery_errors} delivery errors: {report.first_error})"
        )
    load_start_ns = report.start_stamp_ns
    if report.stopped_early or plan.load.count is not None:
        load_end_ns = load_start_ns + round(report.send_elapsed_s * 1e9)
    else:
        load_end_ns = load_start_ns + round(plan.total_s * 1e9)
    window: tuple[int, int] | None = None
    if tracker is not None and tracker.window_start_ns is not None:
        end = min(tracker.window_end_ns or load_end_ns, load_end_ns)
        window = (tracker.window_start_ns, max(end, tracker.window_start_ns + 1))
    return measure(
        PointInputs(
            receipts=receipts,
            adaptive=tracker is not None,
            kept_backlog=plan.load.backlog,
            window_ns=window,
            consumers_started_ns=startup.started_ns,
            consumers_ready_ns=startup.ready_ns,
            mode=plan.mode,
            load_start_ns=load_start_ns,
            load_end_ns=load_end_ns,
            warmup_s=plan.warmup_s,
            workers=plan.workers,
            instances=plan.instances,
            mean_sink_latency_s=plan.mean_latency_s,
            offered_per_s=plan.offered_per_s,
            acked=[Acked(id=i, partition=p, offset=o) for i, p, o in report.acked()],
            dead_letters=reader.dead_letters,
            dead_letters_without_id=reader.dead_letters_without_id,
            retention=reader.retention,
            committed=committed,
            broker_name=broker_name,
            allowed_drops=plan.allowed_drops,
            poison_ids=frozenset(report.poison_ids),
            priorities=report.priorities(),
            retried=sum(int(s.get("retried", 0)) for s in summaries),
            sink_counter_received=sink_received,
            process_samples=sampler.process_samples(),
            metric_samples=sampler.metric_samples(),
            consumer_hwm_bytes=sampler.hwm_bytes("consumer"),
            cores=os.cpu_count() or 1,
            loadgen_lag_p99_ms=(
                report.schedule_lag_ms.get("p99") if plan.offered_per_s is not None else None
            ),
            measured_until_ns=drain_end_ns,
            consumer_loop_lag=consumer_loop_lag(summaries),
            sink_loop_lag=sink_lag,
            errors=errors,
            notes=notes,
        )
    )
