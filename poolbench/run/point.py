"""Run ONE point of a scenario: start the parts, load, drain, stop, measure.

Order, and why:
1. Topics unique to the point (`<topic>-<run>-<n>`, and its DLQ), so no point reads
   another's messages; a consumer group unique to the point.
2. The consumer process(es), pointed at a port reserved for the sink; wait until each
   says it has its partitions ("consumer ready") -- a foreign consumer gets a settle time.
3. The SMTP sink (in its own process, so its CPU is its own and it never competes with
   the load generator for the GIL), started right before the load so that a scenario's
   outage `at: 8s` falls 8 s into the load. Our consumer connects to SMTP lazily.
4. The load generator, in a thread of this process (precise start time; its CPU is the
   thread's CPU time, `time.thread_time`, librdkafka's own threads not included).
5. Drain: wait until every acknowledged event is delivered or dead-lettered, as long as
   deliveries keep coming (`load.drain` is the longest pause allowed, within a cap).
6. Stop the consumers (SIGTERM, then SIGKILL), collect receipts, counters, summaries,
   broker drops and the DLQ's size, and compute the numbers with `measure`.

A part that cannot start (the consumer never gets ready, the command does not exist)
raises `RunError` after everything started is stopped: the sweep ends and keeps the
points measured before. A consumer that dies during the load does not end the run: the
point is recorded, with the error first among its warnings (its losses show as losses).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import poolbench
from poolbench.broker import broker_drops, watermarks
from poolbench.errors import RunError
from poolbench.loadgen import LoadReport, LoadSpec, run_load
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.run import measure as m
from poolbench.run.processes import ChildProcess, ProcessSet, ProcessSpec, foreign_command
from poolbench.run.sampler import Sampler
from poolbench.scenario import Point, Scenario
from poolbench.sink import SinkConfig, SinkServer, parse_latency
from poolbench.sink.faults import FaultConfig, Outage, RateLimit

log = logging.getLogger(__name__)

READY_PATTERN: Final = r"consumer ready"
FOREIGN_SETTLE_S: Final = 5.0  # a foreign consumer gives no readiness line: wait this long
SINK_LEAD_S: Final = 0.2  # from the sink's start to the load's start (outages count from it)
PROGRESS_INTERVAL_S: Final = 0.5
# The drain waits while events keep arriving: it ends when all are accounted for, when
# nothing moved for `load.drain`, or at DRAIN_CAP_FACTOR x `load.drain` (at least
# DRAIN_CAP_MIN_S) -- a slow consumer's backlog is drained, not counted as lost.
DRAIN_CAP_FACTOR: Final = 10.0
DRAIN_CAP_MIN_S: Final = 60.0
_LATENCY_SAMPLES: Final = 20_000  # to estimate the mean of a random sink latency model


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
    p99_ms: float  # so far, end to end
    rss_mb: float  # consumer RSS, latest sample


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
    python: str = sys.executable
    workdir: Path | None = None  # where summaries go (default: a temporary folder)
    extra_env: dict[str, str] = field(default_factory=dict)


def reserve_port(host: str = "127.0.0.1") -> int:
    """A free TCP port (the kernel's pick); free again when this returns."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def mean_latency_s(model: Any, seed: int = 0) -> float:
    """The mean of a sink latency model (exact for fixed; a seeded estimate otherwise)."""
    rng = random.Random(seed)
    first = float(model.sample(rng))
    if all(float(model.sample(rng)) == first for _ in range(8)):
        return first
    return statistics.fmean(float(model.sample(rng)) for _ in range(_LATENCY_SAMPLES))


def offered_rate(scenario: Scenario) -> float | None:
    """The open-model rate averaged over the measured duration; None when saturating."""
    load = scenario.load
    if load.saturate:
        return None
    if load.rate_per_s is not None:
        return load.rate_per_s
    cycle = sum(step.duration_s for step in load.profile)
    events = sum(step.rate_per_s * step.duration_s for step in load.profile)
    return events / cycle if cycle > 0 else None


def backlog_for(scenario: Scenario, ideal_per_s: float) -> int:
    """Saturation backlog: enough to keep every worker busy through a commit interval.

    The load generator sees progress through committed offsets, which lag by up to the
    consumer's commit interval (1 s) plus what sits in its queue and workers; twice the
    queue and workers plus 1.5 s of work at the ideal rate keeps the workers from ever
    starving, and no more than that keeps the drain short.
    """
    c = scenario.consumer
    in_flight = (c.workers + c.buffer) * c.instances
    per_s = ideal_per_s if ideal_per_s > 0 else 1000.0
    return max(50, math.ceil(2 * in_flight + 1.5 * per_s))


def python_env(extra: dict[str, str]) -> dict[str, str]:
    """Environment for a `python -m poolbench` child: the same poolbench as this process."""
    root = str(Path(poolbench.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**extra, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def consumer_specs(
    scenario: Scenario,
    *,
    ctx: PointContext,
    topic: str,
    dlq: str,
    group: str,
    smtp_port: int,
    metrics_ports: list[int],
    summary_dir: Path,
) -> list[ProcessSpec]:
    c = scenario.consumer
    specs = []
    for i in range(c.instances):
        values = {
            "workers": c.workers,
            "buffer": c.buffer,
            "bootstrap": ctx.bootstrap_servers,
            "topic": topic,
            "dlq_topic": dlq,
            "group": group,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "instance": i,
        }
        if c.command is not None:
            argv, env = foreign_command(c.command, c.env, values)
            specs.append(ProcessSpec(name=f"consumer-{i}", argv=argv, env={**ctx.extra_env, **env}))
            continue
        # Settings through the environment (flags fall back to it), so the runner does not
        # depend on the spelling of every flag; see poolbench.consumer.settings.
        env = {
            "EMAIL_WORKER_COUNT": str(c.workers),
            "EMAIL_WORKER_BUFFER": str(c.buffer),
            "KAFKA_BROKERS": ctx.bootstrap_servers,
            "KAFKA_TOPIC": topic,
            "KAFKA_GROUP_ID": group,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "POOLBENCH_DLQ_TOPIC": dlq,
            "POOLBENCH_CONNECTION_REUSE": "true" if c.connection_reuse else "false",
            "POOLBENCH_MAX_RETRIES": str(c.retries),
            "POOLBENCH_RETRY_BASE": f"{c.retry_backoff_s}s",
            "POOLBENCH_SMTP_TIMEOUT": f"{c.send_timeout_s}s",
            "POOLBENCH_METRICS_PORT": str(metrics_ports[i]),
            **{k: v for k, v in c.env.items()},
        }
        argv = (
            ctx.python,
            "-m",
            "poolbench",
            "consume",
            "--summary-json",
            str(summary_dir / f"consumer-{i}.json"),
        )
        specs.append(
            ProcessSpec(
                name=f"consumer-{i}",
                argv=argv,
                env=python_env({**ctx.extra_env, **env}),
                ready_pattern=READY_PATTERN,
            )
        )
    return specs


def _read_summaries(summary_dir: Path, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        path = summary_dir / f"consumer-{i}.json"
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(path.read_text())
            if isinstance(doc, dict):
                out.append(doc)
    return out


class _LiveLatency:
    """p99 so far, from the receipts that arrived since the last look (append-only list)."""

    def __init__(self) -> None:
        self.hist = LatencyHistogram()
        self.seen = 0

    def update(self, receipts: list[Any]) -> float:
        for r in receipts[self.seen :]:
            if r.intended_ns is not None:
                self.hist.record_ns(r.received_ns - r.intended_ns)
        self.seen = len(receipts)
        return self.hist.percentile_ms(99.0)


@contextlib.contextmanager
def _workdir(ctx: PointContext) -> Iterator[Path]:
    if ctx.workdir is not None:
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        yield ctx.workdir
        return
    with tempfile.TemporaryDirectory(prefix="poolbench-point-") as tmp:
        yield Path(tmp)


def run_point(
    point: Point,
    ctx: PointContext,
    *,
    on_progress: Callable[[PointProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> m.Measurement:
    """Measure one point; every process and server it started is stopped when it returns."""

    scenario = point.scenario
    stop = stop or threading.Event()
    label = point.label
    topic = f"{scenario.topic.name}-{ctx.run_id}-{ctx.sequence}"
    dlq = f"{scenario.topic.dlq}-{ctx.run_id}-{ctx.sequence}"
    group = f"poolbench-{ctx.run_id}-{ctx.sequence}"
    ctx.create_topic(topic, scenario.topic.partitions)
    ctx.create_topic(dlq, 1)

    latency_model = parse_latency(scenario.sink.latency, what="sink.latency")
    mean_latency = mean_latency_s(latency_model, seed=scenario.load.seed)
    offered = offered_rate(scenario)
    ideal = m.ideal_throughput(
        workers=scenario.consumer.workers,
        instances=scenario.consumer.instances,
        mean_latency_s=mean_latency,
        offered_per_s=offered,
    )
    mode = m.LoadMode.SATURATE if scenario.load.saturate else m.LoadMode.OPEN
    backlog = backlog_for(scenario, ideal) if mode is m.LoadMode.SATURATE else None
    total_s = scenario.load.total_s
    drain_s = scenario.load.drain_s
    faults = scenario.sink.faults
    sink_config = SinkConfig(
        host="127.0.0.1",
        port=reserve_port(),
        latency=latency_model,
        faults=FaultConfig(
            transient=faults.transient, permanent=faults.permanent, drop=faults.drop
        ),
        max_connections=scenario.sink.max_connections,
        rate_limit=(
            RateLimit(rate=scenario.sink.rate_limit_per_s)
            if scenario.sink.rate_limit_per_s
            else None
        ),
        outages=tuple(
            Outage(start=o.at + SINK_LEAD_S, end=o.at + o.duration + SINK_LEAD_S)
            for o in scenario.sink.outages
        ),
        processes=scenario.sink.processes,
        isolated=True,
        seed=scenario.load.seed,
    )
    load_spec = LoadSpec(
        topic=topic,
        rate="saturate" if offered is None and not scenario.load.profile else _rate_text(scenario),
        duration=total_s,
        count=scenario.load.count,
        backlog=backlog,
        group=group if backlog is not None else None,
        poison=scenario.load.poison,
        seed=scenario.load.seed,
    )

    errors: list[str] = []
    with _workdir(ctx) as work, ProcessSet(grace_s=ctx.grace_s) as processes:
        sampler = Sampler(interval_s=ctx.sample_interval_s)
        metrics_ports = [reserve_port() for _ in range(scenario.consumer.instances)]
        specs = consumer_specs(
            scenario,
            ctx=ctx,
            topic=topic,
            dlq=dlq,
            group=group,
            smtp_port=sink_config.port,
            metrics_ports=metrics_ports,
            summary_dir=work,
        )
        _report(on_progress, label, "starting", total_s=total_s)
        consumers: list[ChildProcess] = [processes.start(spec) for spec in specs]
        with sampler:
            for child, port in zip(consumers, metrics_ports, strict=True):
                sampler.watch("consumer", child.pid)
                if not scenario.consumer.foreign:
                    sampler.scrape(f"http://127.0.0.1:{port}/metrics")
            _wait_ready(consumers, scenario, ctx, stop)
            with SinkServer(sink_config) as sink:
                report_box: list[LoadReport] = []
                failure: list[BaseException] = []
                load_stop = threading.Event()
                cpu_box: list[float] = []

                def produce() -> None:
                    cpu0 = time.thread_time()
                    try:
                        report_box.append(
                            run_load(
                                load_spec, bootstrap_servers=ctx.bootstrap_servers, stop=load_stop
                            )
                        )
                    except BaseException as exc:  # handed to the runner thread below
                        failure.append(exc)
                    finally:
                        cpu_box.append(time.thread_time() - cpu0)

                # Outage windows count from the sink's start: begin the load SINK_LEAD_S later.
                time.sleep(max(0.0, sink.started + SINK_LEAD_S - time.monotonic()))
                load_thread = threading.Thread(target=produce, name="loadgen", daemon=True)
                load_started = time.monotonic()
                load_thread.start()
                live = _LiveLatency()
                sink_cpu: list[tuple[int, float]] = []
                last_count, last_t = 0, load_started
                try:
                    while load_thread.is_alive():
                        load_thread.join(PROGRESS_INTERVAL_S)
                        if stop.is_set():
                            load_stop.set()
                        now = time.monotonic()
                        counters = sink.counters()
                        sink_cpu.append((time.time_ns(), counters.cpu_percent))
                        delivered = counters.received - counters.duplicates
                        rate = (delivered - last_count) / max(1e-9, now - last_t)
                        last_count, last_t = delivered, now
                        _report(
                            on_progress,
                            label,
                            "load",
                            total_s=total_s,
                            elapsed_s=now - load_started,
                            delivered=delivered,
                            rate=rate,
                            p99=live.update(sink.receipts()),
                            rss=_rss_mb(sampler),
                        )
                        for child in consumers:
                            if not child.running and not any(child.spec.name in e for e in errors):
                                errors.append(
                                    f"{child.spec.name} exited with code {child.returncode} "
                                    f"during the load: {child.output_tail(3)}"
                                )
                except BaseException:
                    load_stop.set()
                    load_thread.join(30)
                    raise
                if failure:
                    raise RunError(f"load generator failed: {failure[0]}") from failure[0]
                report = report_box[0]
                load_cpu_s = cpu_box[0] if cpu_box else 0.0

                # Drain: until every acknowledged event is delivered or dead-lettered, as
                # long as that keeps moving (see DRAIN_CAP_FACTOR).
                drain_started = time.monotonic()
                idle_deadline = drain_started + drain_s
                cap = drain_started + max(DRAIN_CAP_MIN_S, DRAIN_CAP_FACTOR * drain_s)
                last_done = -1
                while not stop.is_set():
                    counters = sink.counters()
                    sink_cpu.append((time.time_ns(), counters.cpu_percent))
                    delivered = counters.received - counters.duplicates
                    done = delivered + _dlq_size(ctx.bootstrap_servers, dlq)
                    now = time.monotonic()
                    _report(
                        on_progress,
                        label,
                        "drain",
                        total_s=total_s,
                        elapsed_s=now - load_started,
                        produced=report.acknowledged,
                        delivered=delivered,
                        p99=live.update(sink.receipts()),
                        rss=_rss_mb(sampler),
                    )
                    if done >= report.acknowledged or all(not c.running for c in consumers):
                        break
                    if done > last_done:
                        last_done, idle_deadline = done, now + drain_s
                    if now >= idle_deadline or now >= cap:
                        why = "nothing moved" if now >= idle_deadline else "still moving"
                        errors.append(
                            f"drain stopped after {now - drain_started:.0f}s ({why} for "
                            f"{drain_s:g}s): {report.acknowledged - done} events neither "
                            "delivered nor dead-lettered"
                        )
                        break
                    time.sleep(PROGRESS_INTERVAL_S)
                drain_end_ns = time.time_ns()
                _report(on_progress, label, "stopping", total_s=total_s, elapsed_s=total_s)
                codes = {c.spec.name: c.stop(ctx.grace_s) for c in consumers}
                for name, code in codes.items():
                    if code not in (0, None, -15) and not any(name in e for e in errors):
                        errors.append(f"{name} exited with code {code}")
                receipts = sink.receipts()
                final_counters = sink.counters()
                sink_cpu.append((time.time_ns(), final_counters.cpu_percent))
        summaries = _read_summaries(work, scenario.consumer.instances)

    dead_lettered = _dlq_size(ctx.bootstrap_servers, dlq)
    try:
        dropped = sum(broker_drops(ctx.bootstrap_servers, topic, report.first_offsets).values())
    except Exception as exc:  # the numbers stand without it; say so
        errors.append(f"could not read broker drops: {exc}")
        dropped = 0
    notes = []
    left = sum(int(doc.get("left_uncommitted", 0)) for doc in summaries)
    if left:
        notes.append(
            f"the consumer left {left} events uncommitted at exit (failed for now, "
            "not dead-lettered): Kafka redelivers them to the next consumer"
        )
    load_start_ns = report.start_wall_ns
    if report.stopped_early or scenario.load.count is not None:
        load_end_ns = load_start_ns + round(report.send_elapsed_s * m.NS_PER_S)
    else:
        load_end_ns = load_start_ns + round(total_s * m.NS_PER_S)
    window_start = load_start_ns + round(scenario.load.warmup_s * m.NS_PER_S)
    window_cpu = [cpu for t, cpu in sink_cpu if window_start <= t <= load_end_ns]
    load_elapsed = max(1e-9, report.send_elapsed_s)
    if report.stopped_early:
        errors.append("stopped before the load ended (Ctrl-C)")
    if not report.complete:
        errors.append(
            f"the broker acknowledged {report.acknowledged} of {report.produced} events "
            f"({report.delivery_errors} delivery errors: {report.first_error})"
        )
    return m.measure(
        m.PointInputs(
            receipts=receipts,
            mode=mode,
            load_start_ns=load_start_ns,
            load_end_ns=max(load_end_ns, window_start + 1),
            warmup_s=scenario.load.warmup_s,
            workers=scenario.consumer.workers,
            instances=scenario.consumer.instances,
            mean_sink_latency_s=mean_latency,
            offered_per_s=offered,
            produced=report.acknowledged,
            retried=sum(int(s.get("retried", 0)) for s in summaries),
            dead_lettered=dead_lettered,
            dropped_by_broker=dropped,
            poison=len(report.poison_ids),
            process_samples=sampler.process_samples(),
            metric_samples=sampler.metric_samples(),
            harness=m.HarnessLoad(
                sink_cpu_percent=statistics.fmean(window_cpu) if window_cpu else None,
                sink_processes=scenario.sink.processes,
                loadgen_cpu_percent=100.0 * load_cpu_s / load_elapsed,
                loadgen_lag_p99_ms=report.schedule_lag_ms.get("p99") if offered else None,
            ),
            measured_until_ns=drain_end_ns,
            errors=errors,
            notes=notes,
        )
    )


def _rate_text(scenario: Scenario) -> str:
    load = scenario.load
    if load.rate_per_s is not None:
        return f"{load.rate_per_s:g}/s"
    # A scenario's profile loops; the load generator holds its last step, so spell out
    # enough cycles to cover the whole load.
    cycle_s = sum(step.duration_s for step in load.profile)
    cycles = max(1, math.ceil(load.total_s / cycle_s))
    steps = ",".join(f"{s.rate_per_s:g}/s:{s.duration_s:g}s" for s in load.profile * cycles)
    return f"steps:{steps}"


def _wait_ready(
    consumers: list[ChildProcess], scenario: Scenario, ctx: PointContext, stop: threading.Event
) -> None:
    if scenario.consumer.foreign:
        deadline = time.monotonic() + FOREIGN_SETTLE_S
        while time.monotonic() < deadline and not stop.is_set():
            for child in consumers:
                if not child.running:
                    raise RunError(
                        f"{child.spec.name} exited with code {child.returncode} at start:\n"
                        f"{child.output_tail()}"
                    )
            time.sleep(0.1)
        return
    for child in consumers:
        child.wait_ready(ctx.ready_timeout_s, stop=stop)


def _dlq_size(bootstrap_servers: str, topic: str) -> int:
    try:
        return sum(high - low for low, high in watermarks(bootstrap_servers, topic, 5.0).values())
    except Exception as exc:
        log.debug("cannot read the DLQ size: %s", exc)
        return 0


def _rss_mb(sampler: Sampler) -> float:
    latest = sampler.latest("consumer")
    return latest.rss_bytes / m.MB if latest is not None else 0.0


def _report(
    on_progress: Callable[[PointProgress], None] | None,
    label: str,
    phase: str,
    *,
    total_s: float,
    elapsed_s: float = 0.0,
    produced: int = 0,
    delivered: int = 0,
    rate: float = 0.0,
    p99: float = 0.0,
    rss: float = 0.0,
) -> None:
    if on_progress is None:
        return
    on_progress(
        PointProgress(
            label=label,
            phase=phase,
            elapsed_s=elapsed_s,
            total_s=total_s,
            produced=produced,
            delivered=delivered,
            rate_per_s=rate,
            p99_ms=p99,
            rss_mb=rss,
        )
    )
