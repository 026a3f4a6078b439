"""A whole scenario: its points, one after another, into a `ResultSet`.

One embedded broker serves the whole run (each point gets its own topics on it), or the
scenario's cluster is used. Progress goes to an `on_event` callback, never to the
terminal. Ctrl-C (KeyboardInterrupt in the calling thread) or a set `stop` event ends
the run after the current point's parts are stopped, keeping the points measured
before; so does a point that cannot start (`RunError`), whose message is kept in
`SweepOutcome.error`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from poolbench.broker import EmbeddedBroker, TopicSpec, ensure_topics
from poolbench.errors import RunError
from poolbench.metrics.histogram import LatencySummary
from poolbench.results import Environment, Latency, Memory, PointResult, ResultSet, TimelineSample
from poolbench.run.measure import Measurement
from poolbench.run.point import PointContext, PointProgress, run_point
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


def _latency(summary: LatencySummary | None) -> Latency | None:
    return None if summary is None else Latency.from_mapping(summary.as_dict())


def to_point_result(measurement: Measurement, point: Point) -> PointResult:
    """The stored form of one measured point."""
    lat = measurement.latency
    consumer = measurement.consumer
    acc = measurement.accounting
    end_to_end = _latency(lat.end_to_end)
    assert end_to_end is not None
    return PointResult(
        params=dict(point.params),
        repeat=point.repeat,
        throughput_per_s=measurement.throughput.per_s,
        ideal_throughput_per_s=measurement.ideal_per_s,
        latency_ms=end_to_end,
        wait_ms=_latency(lat.wait),
        send_ms=_latency(lat.send),
        memory_mb=Memory(peak=consumer.peak_rss_mb, mean=consumer.mean_rss_mb),
        cpu_percent=consumer.cpu_percent,
        sink_cpu_percent=measurement.harness.sink_cpu_percent,
        loadgen_cpu_percent=measurement.harness.loadgen_cpu_percent,
        produced=acc.produced,
        delivered=acc.delivered,
        duplicates=acc.duplicates,
        retried=acc.retried,
        dead_lettered=acc.dead_lettered,
        dropped_by_broker=acc.dropped_by_broker,
        warnings=measurement.warnings,
        timeline=tuple(
            TimelineSample(
                t_s=row.t_s,
                delivered_per_s=row.delivered_per_s,
                queue_depth=row.queue_depth,
                p99_ms=row.p99_ms,
                rss_mb=row.rss_mb,
            )
            for row in measurement.timeline
        ),
        histogram=lat.histogram,
    )


@contextmanager
def _cluster(scenario: Scenario) -> Iterator[tuple[str, Callable[[str, int], None]]]:
    """Bootstrap servers and a topic creator: the embedded broker's, or the cluster's."""
    servers = scenario.broker.bootstrap_servers
    if servers is not None:

        def ensure(name: str, partitions: int) -> None:
            ensure_topics(servers, [TopicSpec(name, partitions)])

        yield servers, ensure
        return
    with EmbeddedBroker(brokers=scenario.broker.brokers) as broker:

        def create(name: str, partitions: int) -> None:
            broker.create_topic(TopicSpec(name, partitions))

        yield broker.bootstrap_servers, create


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
        scenario=scenario.to_dict(),
        scenario_hash=scenario.scenario_hash,
        environment=Environment.capture(repo_dir=repo_dir),
    )
    run_id = secrets.token_hex(3)
    emit = on_event or (lambda _event: None)
    interrupted = False
    error: str | None = None
    try:
        with _cluster(scenario) as (bootstrap_servers, create_topic):
            for number, point in enumerate(points, start=1):
                if stop.is_set():
                    interrupted = True
                    break
                emit(RunEvent(kind="point_start", number=number, total=len(points), point=point))
                ctx = PointContext(
                    bootstrap_servers=bootstrap_servers,
                    create_topic=create_topic,
                    run_id=run_id,
                    sequence=number,
                    ready_timeout_s=ready_timeout_s,
                    workdir=None if workdir is None else workdir / f"point-{number}",
                )

                def progress(
                    update: PointProgress, number: int = number, point: Point = point
                ) -> None:
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
                    measurement = run_point(point, ctx, on_progress=progress, stop=stop)
                except RunError as exc:
                    if stop.is_set():  # stopped while a part was starting
                        interrupted = True
                    else:
                        error = f"point {number} ({point.label}): {exc}"
                    break
                result = to_point_result(measurement, point)
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
    return SweepOutcome(result_set=result_set, interrupted=interrupted, error=error)
