"""A whole scenario: its points, one after another, into a `ResultSet`.

One embedded broker, in a process of its own, serves the whole run (each point gets its
own topics on it), or the scenario's cluster is used. Progress goes to an `on_event`
callback, never to the terminal. Ctrl-C (KeyboardInterrupt in the calling thread) or a
set `stop` event ends the run after the current point's parts are stopped, keeping the
points measured before; so does a point that cannot start (`RunError`), whose message is kept in
`SweepOutcome.error`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.broker import BrokerProcess, TopicSpec, ensure_topics
from poolbench.errors import RunError, UserError
from poolbench.metrics.histogram import LatencySummary
from poolbench.redact import redact_mapping
from poolbench.results import (
    CPU_COST_FIELDS,
    CPU_PARTS,
    Budget,
    Environment,
    Latency,
    Memory,
    ParamValue,
    PartCpu,
    PointResult,
    PriorityResult,
    ResultSet,
    TimelineSample,
)
from poolbench.run.measure import Measurement
from poolbench.run.point import PointContext, run_point
from poolbench.run.progress import PointProgress
from poolbench.scenario import Broker, Point, Scenario, expand

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    """Something happened: `kind` is one of point_start, progress, point_done, stopped."""

    kind: str
    number: int  # 1-based number of the point in the run
    total: int
    point: Point
    progress: PointProgress | None = None
    result: PointResult | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepOutcome:
    result_set: ResultSet
    interrupted: bool = False  # Ctrl-C or `stop`: the remaining points were not run
    error: str | None = None  # a point could not start: the run ended there

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.error is None


def with_overrides(
    scenario: Scenario, *, bootstrap_servers: str | None = None, repeats: int | None = None
) -> Scenario:
    """The scenario with the command line's `--bootstrap-servers` / `--repeats` applied."""
    if bootstrap_servers:
        scenario = dataclasses.replace(scenario, broker=Broker(bootstrap_servers=bootstrap_servers))
    if repeats is not None:
        scenario = dataclasses.replace(scenario, repeats=repeats)
    return scenario


def _cpu_cost(measurement: Measurement) -> dict[str, Any]:
    """The exact CPU per email of each part, and its detail (`poolbench.run.cpu_cost`)."""
    detail = {
        role: PartCpu(
            cpu_s=cost.cpu_ns / 1e9,
            interval_s=cost.seconds,
            emails=cost.emails,
            threads={name: ns / 1e9 for name, ns in cost.threads.items()},
            busiest_thread=cost.busiest_thread,
            busiest_share=cost.busiest_share,
            processes_exited=cost.processes_exited,
        )
        for role, cost in measurement.cpu_costs.items()
        if role in CPU_PARTS
    }
    fields: dict[str, Any] = {"cpu_cost": detail}
    for part, name in CPU_COST_FIELDS.items():
        cost = detail.get(part)
        fields[name] = None if cost is None else cost.us_per_email
    return fields


def _latency(summary: LatencySummary | None) -> Latency | None:
    return None if summary is None else Latency.from_mapping(summary.as_dict())


def to_point_result(
    measurement: Measurement, point: Point, settings: Mapping[str, Any] | None = None
) -> PointResult:
    """The stored form of one measured point; `settings`: the consumer's, secrets masked."""
    return stored_point(measurement, params=point.params, repeat=point.repeat, settings=settings)


def stored_point(
    measurement: Measurement,
    *,
    params: Mapping[str, ParamValue],
    repeat: int = 0,
    settings: Mapping[str, Any] | None = None,
) -> PointResult:
    """The stored form of a measurement, for the runner and for `poolbench merge`."""
    lat = measurement.latency
    acc = measurement.accounting
    rate = measurement.throughput
    memory = measurement.memory
    budget = measurement.budget
    return PointResult(
        params=dict(params),
        repeat=repeat,
        load_mode=str(measurement.mode),
        error=measurement.error,
        throughput_per_s=None if rate is None else rate.per_s,
        offered_per_s=None if rate is None else rate.offered_per_s,
        kept_up=None if rate is None else rate.kept_up,
        ideal_throughput_per_s=measurement.ideal_per_s,
        latency_ms=None if lat is None else _latency(lat.end_to_end),
        service_ms=None if lat is None else _latency(lat.service),
        wait_ms=None if lat is None else _latency(lat.wait),
        budget_ms=None if budget is None else Budget(**budget.as_dict()),  # type: ignore[arg-type]
        memory_mb=None if memory is None else Memory(peak=memory.peak_mb, mean=memory.mean_mb),
        cpu_percent=measurement.consumer_cpu_percent,
        cpu_by_part={
            role: use.cpu_percent for role, use in measurement.use.items() if role in CPU_PARTS
        },
        harness_saturated=measurement.harness_saturated,
        produced=acc.produced,
        delivered=acc.delivered,
        lost=acc.lost,
        duplicates=acc.duplicates,
        retried=acc.retried,
        dead_lettered=acc.dead_lettered,
        dropped_by_broker=acc.dropped_by_broker,
        undelivered=acc.undelivered,
        inconsistencies=len(acc.inconsistencies),
        by_priority={
            name: PriorityResult(
                emails=share.emails,
                throughput_per_s=share.throughput_per_s,
                latency_ms=_latency(share.latency.end_to_end),
                service_ms=_latency(share.latency.service),
            )
            for name, share in measurement.priorities.items()
        },
        consumer_settings=settings,
        warnings=measurement.warnings,
        timeline=tuple(
            TimelineSample(
                t_s=row.t_s,
                delivered_per_s=row.delivered_per_s,
                queue_depth=row.queue_depth,
                p99_ms=row.p99_ms,
                rss_mb=row.rss_mb,
                p99_by_priority_ms=row.p99_by_priority_ms,
                retried_per_s=row.retried_per_s,
                dead_lettered_per_s=row.dead_lettered_per_s,
                lag=row.lag,
            )
            for row in measurement.timeline
        ),
        histogram=None if lat is None else lat.histogram,
        service_histogram=None if lat is None else lat.service_histogram,
        load_s=measurement.load_s,
        **_cpu_cost(measurement),
        ready_s=None if measurement.startup is None else measurement.startup.ready_s,
        first_delivery_s=None
        if measurement.startup is None
        else measurement.startup.first_delivery_s,
        steady_s=None if measurement.startup is None else measurement.startup.steady_s,
    )


def failed_point(point: Point, error: str) -> PointResult:
    """A point whose load started but that measured nothing: every figure n/a."""
    return PointResult(
        params=dict(point.params),
        repeat=point.repeat,
        load_mode="saturate" if point.scenario.load.saturate else "open",
        error=error,
        throughput_per_s=None,
        ideal_throughput_per_s=None,
        latency_ms=None,
        memory_mb=None,
        cpu_percent=None,
        produced=0,
        delivered=0,
        warnings=("a part of the harness failed under load: nothing of this point was counted",),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """Where a run's points go: bootstrap servers, a topic creator, and the embedded
    broker's process (None for an existing cluster), whose CPU each point measures."""

    bootstrap_servers: str
    create_topic: Callable[[str, int], None]
    broker_pid: int | None
    joined_topics: Callable[[str], frozenset[str] | None] | None = None


@contextmanager
def cluster(scenario: Scenario) -> Iterator[Cluster]:
    """The scenario's cluster, or an embedded broker in a process of its own."""
    servers = scenario.broker.bootstrap_servers
    if servers is not None:

        def ensure(name: str, partitions: int) -> None:
            ensure_topics(servers, [TopicSpec(name, partitions)])

        yield Cluster(bootstrap_servers=servers, create_topic=ensure, broker_pid=None)
        return
    with BrokerProcess(brokers=scenario.broker.brokers) as broker:
        yield Cluster(
            bootstrap_servers=broker.bootstrap_servers,
            create_topic=broker.create_topic,
            broker_pid=broker.pid,
            joined_topics=broker.joined_topics,
        )


def run_scenario(
    scenario: Scenario,
    *,
    on_event: Callable[[RunEvent], None] | None = None,
    stop: threading.Event | None = None,
    workdir: Path | None = None,
    ready_timeout_s: float = 60.0,
    repo_dir: Path | None = None,
) -> SweepOutcome:
    """Run every point of `scenario` (after `with_overrides`); never prints."""
    points = expand(scenario)
    stop = stop or threading.Event()
    result_set = ResultSet(
        scenario_name=scenario.name,
        # Secrets (sink.auth.password, secret-named consumer.env values) are masked.
        scenario=redact_mapping(scenario.to_dict()),
        scenario_hash=scenario.scenario_hash,
        environment=Environment.capture(repo_dir=repo_dir),
    )
    run_id = secrets.token_hex(3)
    emit = on_event or (lambda _event: None)
    interrupted = False
    error: str | None = None
    try:
        with cluster(scenario) as kafka:
            for number, point in enumerate(points, start=1):
                if stop.is_set():
                    interrupted = True
                    break
                emit(RunEvent(kind="point_start", number=number, total=len(points), point=point))
                ctx = PointContext(
                    bootstrap_servers=kafka.bootstrap_servers,
                    create_topic=kafka.create_topic,
                    broker_pid=kafka.broker_pid,
                    joined_topics=kafka.joined_topics,
                    run_id=run_id,
                    sequence=number,
                    ready_timeout_s=ready_timeout_s,
                    workdir=None if workdir is None else workdir / f"point-{number}",
                )

                phases: set[str] = set()

                def progress(
                    update: PointProgress,
                    number: int = number,
                    point: Point = point,
                    phases: set[str] = phases,
                ) -> None:
                    phases.add(update.phase)
                    emit(
                        RunEvent(
                            kind="progress",
                            number=number,
                            total=len(points),
                            point=point,
                            progress=update,
                        )
                    )

                try:
                    measurement, settings = run_point(point, ctx, on_progress=progress, stop=stop)
                    result = to_point_result(measurement, point, settings)
                except (RunError, UserError) as exc:  # a part failed, a broker went away
                    if stop.is_set():  # stopped while a part was starting
                        interrupted = True
                    else:
                        error = f"point {number} ({point.label}): {exc}"
                        if phases & {"load", "drain", "stopping"}:
                            # A part died under load: the point is kept, failed, saying so.
                            result_set = result_set.with_point(failed_point(point, str(exc)))
                    break
                except Exception as exc:  # a bug: keep the points measured so far
                    log.exception("point %d crashed", number)
                    error = f"point {number} ({point.label}) crashed: {exc!r}"
                    break
                result_set = result_set.with_point(result)
                emit(
                    RunEvent(
                        kind="point_done",
                        number=number,
                        total=len(points),
                        point=point,
                        result=result,
                    )
                )
                if stop.is_set():
                    # The point was cut short; it is kept, with its warning, but the run ends.
                    interrupted = True
                    break
                if number < len(points) and scenario.load.cooldown_s > 0:
                    time.sleep(scenario.load.cooldown_s)
    except KeyboardInterrupt:
        # A second Ctrl-C: every part of the current point is already stopped.
        interrupted = True
        log.info("interrupted after %d point(s)", len(result_set.points))
    if interrupted or error is not None:
        reason = error or f"interrupted after {len(result_set.points)} of {len(points)} points"
        result_set = result_set.as_partial(reason)
    return SweepOutcome(result_set=result_set, interrupted=interrupted, error=error)
