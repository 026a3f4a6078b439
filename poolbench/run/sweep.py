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
from poolbench.redact import redact_mapping
from poolbench.results import (
    Environment,
    PointResult,
    ResultSet,
)
from poolbench.run.measure import Measurement
from poolbench.run.point import PointContext, run_point
from poolbench.run.progress import PointProgress
from poolbench.run.stored import stored_point
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


def to_point_result(
    measurement: Measurement, point: Point, settings: Mapping[str, Any] | None = None
) -> PointResult:
    """The stored form of one measured point; `settings`: the consumer's, secrets masked."""
    return stored_point(measurement, params=point.params, repeat=point.repeat, settings=settings)


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
        produced=None,
        delivered=None,
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
