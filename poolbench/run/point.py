"""Run ONE point of a scenario, in phases: plan, start, load, drain, stop, collect, measure.

1. plan (`plan.plan_point`, pure): topics, group, sink config, load spec, consumers.
2. start: the consumer process(es), each from a clean environment with its settings in
   one JSON file, its output kept in `<consumer>.log`; wait until each says it has its
   partitions ("consumer ready") -- a foreign consumer gets a settle time.
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
"""

from __future__ import annotations

import contextlib
import json
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

from poolbench.consumer.settings import ConsumerSettings, dump_settings
from poolbench.errors import RunError
from poolbench.loadgen import LoadReport
from poolbench.loadgen.process import LoadProcess
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.redact import redact_mapping
from poolbench.run.accounting import Acked
from poolbench.run.kafka_reader import PointReader
from poolbench.run.measure import Measurement, PointInputs, measure
from poolbench.run.plan import SINK_LEAD_S, ConsumerPlan, PointPlan, plan_point
from poolbench.run.processes import ChildProcess, ProcessSet, ProcessSpec
from poolbench.run.sampler import Sampler
from poolbench.scenario import Point
from poolbench.sink import SinkServer

log = logging.getLogger(__name__)

# A foreign consumer gives no readiness line: wait this long before the load, then it
# must deliver its first email within NOT_CONSUMING_S of the load's start.
FOREIGN_SETTLE_S: Final = 3.0
NOT_CONSUMING_S: Final = 20.0
PROGRESS_INTERVAL_S: Final = 0.5
# The drain waits while emails keep arriving: it ends when all are accounted for, when
# nothing moved for `load.drain`, or at DRAIN_CAP_FACTOR x `load.drain` (at least
# DRAIN_CAP_MIN_S) -- a slow consumer's backlog is drained, not counted as lost.
DRAIN_CAP_FACTOR: Final = 10.0
DRAIN_CAP_MIN_S: Final = 60.0
_LOAD_START_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PointProgress:
    """A live view of the point being measured, for progress displays."""

    label: str
    phase: str  # "starting", "load", "drain", "stopping"
    elapsed_s: float  # since the load started (0 before)
    total_s: float  # warm-up + measured duration
    produced: int
    delivered: int
    rate_per_s: float  # delivered per second over the last progress interval
    p99_ms: float | None  # so far, end to end; None before the first receipt
    rss_mb: float | None  # consumer RSS, latest sample


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


def reserve_port(host: str = "127.0.0.1") -> int:
    """A free TCP port (the kernel's pick); free again when this returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Progress:
    """Reports progress; keeps a live p99 from the receipts that arrived since last time."""

    def __init__(
        self, plan: PointPlan, on_progress: Callable[[PointProgress], None] | None
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.hist = LatencyHistogram()
        self.seen = 0
        self.last_count = 0
        self.last_t = time.monotonic()
        self.load_started: float | None = None

    def report(
        self,
        phase: str,
        *,
        sink: SinkServer | None = None,
        sampler: Sampler | None = None,
        produced: int = 0,
    ) -> int:
        """Report; returns the distinct emails delivered so far (0 without a sink)."""
        delivered = 0
        p99: float | None = None
        rate = 0.0
        if sink is not None:
            counters = sink.counters()
            delivered = counters.received - counters.duplicates
            for r in sink.receipts_since(self.seen):
                self.seen += 1
                if r.intended_ns is not None:
                    self.hist.record_ns(r.received_ns - r.intended_ns)
            p99 = self.hist.percentile_ms(99.0) if self.hist.count else None
            now = time.monotonic()
            rate = (delivered - self.last_count) / max(1e-9, now - self.last_t)
            self.last_count, self.last_t = delivered, now
        if self.on_progress is not None:
            latest = sampler.latest("consumer") if sampler is not None else None
            started = self.load_started
            self.on_progress(
                PointProgress(
                    label=self.plan.label,
                    phase=phase,
                    elapsed_s=0.0 if started is None else time.monotonic() - started,
                    total_s=self.plan.total_s,
                    produced=produced,
                    delivered=delivered,
                    rate_per_s=rate,
                    p99_ms=p99,
                    rss_mb=None if latest is None else latest.rss_bytes / 1e6,
                )
            )
        return delivered


@contextlib.contextmanager
def _workdir(ctx: PointContext) -> Iterator[Path]:
    if ctx.workdir is not None:
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        yield ctx.workdir
        return
    with tempfile.TemporaryDirectory(prefix="poolbench-point-") as tmp:
        yield Path(tmp)


def _settings_text(settings: ConsumerSettings, fields: frozenset[str] | None) -> str:
    text = dump_settings(settings)
    if fields is None:
        return text
    doc = json.loads(text)
    return json.dumps({k: v for k, v in doc.items() if k in fields}, sort_keys=True)


def _start_consumers(
    plan: PointPlan, ctx: PointContext, processes: ProcessSet, sampler: Sampler
) -> list[ChildProcess]:
    children = []
    for consumer in plan.consumers:
        if consumer.settings is not None and consumer.settings_path is not None:
            # It holds the SMTP password: readable by this user only.
            descriptor = os.open(consumer.settings_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(_settings_text(consumer.settings, ctx.consumer_fields))
        child = processes.start(
            ProcessSpec(
                name=consumer.name,
                argv=consumer.argv,
                env={**consumer.env, **ctx.extra_env},
                ready_pattern=consumer.ready_pattern,
                clean_env=True,
                log_path=consumer.log_path,
                secrets=plan.secrets,
            )
        )
        sampler.watch("consumer", child.pid)
        if consumer.metrics_port is not None:
            sampler.scrape(f"http://127.0.0.1:{consumer.metrics_port}/metrics")
        children.append(child)
    return children


def _wait_ready(
    consumers: list[ChildProcess], plan: PointPlan, ctx: PointContext, stop: threading.Event
) -> None:
    foreign = [c for c, p in zip(consumers, plan.consumers, strict=True) if p.settings is None]
    if foreign:
        deadline = time.monotonic() + FOREIGN_SETTLE_S
        while time.monotonic() < deadline and not stop.is_set():
            for child in foreign:
                if not child.running:
                    raise RunError(
                        f"{child.spec.name} exited with code {child.returncode} at start; "
                        f"its last lines:\n{child.output_tail()}"
                    )
            time.sleep(0.1)
    for child in consumers:
        if child not in foreign:
            child.wait_ready(ctx.ready_timeout_s, stop=stop)


def _not_consuming(
    plan: PointPlan,
    consumers: list[ChildProcess],
    progress: _Progress,
    delivered: int,
    errors: list[str],
) -> bool:
    """A foreign consumer (no readiness line) that delivered nothing `NOT_CONSUMING_S`
    into the load is reported with its last lines, and the load is cut short."""
    started = progress.load_started
    if delivered or started is None or all(c.settings is not None for c in plan.consumers):
        return False
    if time.monotonic() - started < NOT_CONSUMING_S:
        return False
    if any("not consuming" in e for e in errors):
        return False
    tails = "\n".join(f"{c.spec.name}:\n{c.output_tail(10)}" for c in consumers)
    errors.append(
        f"not consuming: no email reached the sink within {NOT_CONSUMING_S:g}s of the "
        f"load's start; the consumers' last lines:\n{tails}"
    )
    return True


def _dead_consumers(consumers: Sequence[ChildProcess], errors: list[str], phase: str) -> None:
    for child in consumers:
        if not child.running and not any(child.spec.name in e for e in errors):
            errors.append(
                f"{child.spec.name} exited with code {child.returncode} during the {phase}; "
                f"its last lines:\n{child.output_tail(10)}"
            )


def _load_phase(
    plan: PointPlan,
    ctx: PointContext,
    *,
    sink: SinkServer,
    work: Path,
    sampler: Sampler,
    reader: PointReader,
    consumers: list[ChildProcess],
    progress: _Progress,
    stop: threading.Event,
    errors: list[str],
) -> LoadReport:
    lead_s = sink.started + SINK_LEAD_S - time.monotonic()
    start_at = time.time_ns() + round(max(0.0, lead_s) * 1e9)
    with LoadProcess(
        plan.load,
        bootstrap_servers=ctx.bootstrap_servers,
        report_path=work / "load-report.json",
        start_at_wall_ns=start_at,
    ) as load:
        sampler.watch("loadgen", load.pid)
        load.wait_ready(_LOAD_START_TIMEOUT_S)
        progress.load_started = time.monotonic() + max(0.0, start_at - time.time_ns()) / 1e9
        deadline = time.monotonic() + max(0.0, lead_s) + plan.total_s + _LOAD_START_TIMEOUT_S
        while load.wait(PROGRESS_INTERVAL_S) is None:
            if stop.is_set():
                load.stop()
            reader.sample_retention()
            delivered = progress.report("load", sink=sink, sampler=sampler)
            _dead_consumers(consumers, errors, "load")
            if _not_consuming(plan, consumers, progress, delivered, errors):
                load.stop()
            if time.monotonic() > deadline:
                load.stop()
                errors.append("the load generator ran past its schedule and was stopped")
        report = load.report()
    if report.start_wall_ns > start_at + 50_000_000:
        errors.append(
            f"the load started {(report.start_wall_ns - start_at) / 1e6:.0f} ms late "
            "(the load generator was slow to start): outages and warm-up are shifted"
        )
    return report


def _drain_phase(
    plan: PointPlan,
    *,
    report: LoadReport,
    sink: SinkServer,
    sampler: Sampler,
    reader: PointReader,
    consumers: list[ChildProcess],
    progress: _Progress,
    stop: threading.Event,
    errors: list[str],
) -> None:
    drain_s = plan.drain_s
    started = time.monotonic()
    idle_deadline = started + drain_s
    cap = started + max(DRAIN_CAP_MIN_S, DRAIN_CAP_FACTOR * drain_s)
    last_done = -1
    while not stop.is_set():
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


def _stop_consumers(
    consumers: list[ChildProcess], sampler: Sampler, grace_s: float, errors: list[str]
) -> None:
    sampler.read_hwm_now()
    for child in consumers:
        code = child.stop(grace_s)
        if code not in (0, None, -15) and not any(child.spec.name in e for e in errors):
            errors.append(
                f"{child.spec.name} exited with code {code}; its last lines:\n"
                f"{child.output_tail(10)}"
            )


def _read_summaries(plans: Sequence[ConsumerPlan]) -> list[dict[str, Any]]:
    out = []
    for consumer in plans:
        if consumer.summary_path is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(consumer.summary_path.read_text())
            if isinstance(doc, dict):
                out.append(doc)
    return out


def effective_settings(plan: PointPlan, summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The consumer's settings as it reported them (secrets masked), else as planned."""
    for summary in summaries:
        reported = summary.get("settings")
        if isinstance(reported, dict):
            return redact_mapping(reported)
    ours = [c.settings for c in plan.consumers if c.settings is not None]
    if ours:
        return redact_mapping(json.loads(dump_settings(ours[0])))
    first = plan.consumers[0]
    return redact_mapping({"command": list(first.argv), "env": dict(first.env)})


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
        plan = plan_point(
            point,
            bootstrap_servers=ctx.bootstrap_servers,
            run_id=ctx.run_id,
            sequence=ctx.sequence,
            workdir=work,
            private_dir=Path(private),
            reserve_port=reserve_port,
            python=ctx.consumer_python,
            pythonpath=ctx.consumer_pythonpath,
        )
        notes.extend(plan.warnings)
        ctx.create_topic(plan.topic, plan.partitions)
        ctx.create_topic(plan.dlq, 1)
        progress = _Progress(plan, on_progress)
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
            sampler.watch_machine()
            sampler.watch("runner", os.getpid(), children=False)
            if ctx.broker_pid is not None:
                sampler.watch("broker", ctx.broker_pid)
            consumers = _start_consumers(plan, ctx, processes, sampler)
            _wait_ready(consumers, plan, ctx, stop)
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
                )
                _drain_phase(
                    plan,
                    report=report,
                    sink=sink,
                    sampler=sampler,
                    reader=reader,
                    consumers=consumers,
                    progress=progress,
                    stop=stop,
                    errors=errors,
                )
                drain_end_ns = time.time_ns()
                progress.report("stopping")
                _stop_consumers(consumers, sampler, ctx.grace_s, errors)
                receipts = sink.receipts()
                counters = sink.counters()
            reader.sample_retention()
            reader.drain_dead_letters()
            errors.extend(reader.errors)
        summaries = _read_summaries(plan.consumers)
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
    ), settings


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
) -> Measurement:
    left = sum(int(doc.get("left_uncommitted", 0)) for doc in summaries)
    if left:
        notes.append(
            f"the consumer left {left} emails uncommitted at exit (failed for now, "
            "not dead-lettered): Kafka redelivers them to the next consumer"
        )
    if report.stopped_early:
        errors.append("stopped before the load ended (Ctrl-C)")
    if not report.complete:
        errors.append(
            f"the broker acknowledged {report.acknowledged} of {report.produced} emails "
            f"({report.delivery_errors} delivery errors: {report.first_error})"
        )
    load_start_ns = report.start_wall_ns
    if report.stopped_early or plan.load.count is not None:
        load_end_ns = load_start_ns + round(report.send_elapsed_s * 1e9)
    else:
        load_end_ns = load_start_ns + round(plan.total_s * 1e9)
    return measure(
        PointInputs(
            receipts=receipts,
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
            errors=errors,
            notes=notes,
        )
    )
