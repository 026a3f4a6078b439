"""A compare: every point of a scenario, both sides, interleaved, through the runner.

One broker (the scenario's, usually the embedded one) serves every run; each run is a
point of its own for `poolbench.run.point.run_point` (own topics, sink, load generator
and consumer process), so both sides get the same broker, sink and load settings and
differ only in the consumer: its interpreter and `poolbench` package (`consumer_python`,
`consumer_pythonpath`), its command (a foreign side), and `--a-env` / `--b-env`.

The consumer runs with PYTHONSAFEPATH=1: `python -m poolbench` would otherwise put the
current folder first on its path, and a consumer started from inside a checkout would
import that checkout instead of its side's.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolbench.compare.install import InstalledSide
from poolbench.compare.order import Run, run_order
from poolbench.compare.verdict import Outcome, judge_point
from poolbench.consumer.settings import ConsumerSettings
from poolbench.errors import RunError
from poolbench.gates.verdict import METRIC_NAMES, too_busy
from poolbench.redact import redact_mapping
from poolbench.results import Environment, PointResult, ResultSet
from poolbench.run.point import PointContext, run_point
from poolbench.run.progress import PointProgress
from poolbench.run.stored import stored_point
from poolbench.run.sweep import cluster
from poolbench.scenario import Point, Scenario, expand

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareOptions:
    repeats: int
    alpha: float
    min_effect: float
    fail_on: tuple[str, ...]
    fail_on_inconclusive: bool = False
    seed: int = 0
    # A consumer is ready within seconds; on a busy machine one now and then never says
    # so (no output at all): such a run is started again rather than ending the compare.
    ready_timeout_s: float = 60.0
    start_retries: int = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareEvent:
    """kind: run_start, progress or run_done; `number` of `total` runs."""

    kind: str
    number: int
    total: int
    run: Run
    label: str
    side_label: str
    progress: PointProgress | None = None
    result: PointResult | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareOutcome:
    a: ResultSet
    b: ResultSet
    outcome: Outcome
    order: tuple[Run, ...]
    sides: tuple[InstalledSide, InstalledSide]
    elapsed_s: float
    interrupted: bool = False
    error: str | None = None

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.error is None


def side_scenario(scenario: Scenario, side: InstalledSide) -> Scenario:
    """The scenario as this side runs it: its command, its extra consumer variables."""
    consumer = scenario.consumer
    if side.command is not None:
        consumer = dataclasses.replace(consumer, command=side.command)
    if side.env:
        consumer = dataclasses.replace(consumer, env={**consumer.env, **side.env})
    return dataclasses.replace(scenario, consumer=consumer)


def side_points(scenario: Scenario, side: InstalledSide) -> list[Point]:
    """The scenario's points (one repeat each), as this side runs them."""
    base = dataclasses.replace(scenario, repeats=1)
    return [
        Point(
            index=p.index,
            repeat=0,
            params=p.params,
            scenario=side_scenario(p.scenario, side),
        )
        for p in expand(base)
    ]


def unknown_fields(side: InstalledSide) -> list[str]:
    """Our consumer's settings fields that this side's consumer does not know."""
    if side.fields is None or side.command is not None:
        return []
    ours = {f.name for f in dataclasses.fields(ConsumerSettings)}
    return sorted(ours - side.fields)


def _result_set(scenario: Scenario, side: InstalledSide, repo: Path | None) -> ResultSet:
    s = side_scenario(scenario, side)
    return ResultSet(
        scenario_name=scenario.name,
        scenario=redact_mapping(s.to_dict()),
        scenario_hash=s.scenario_hash,
        environment=Environment.capture(repo_dir=side.pythonpath or repo),
    )


def run_compare(
    scenario: Scenario,
    sides: tuple[InstalledSide, InstalledSide],
    options: CompareOptions,
    *,
    workdir: Path | None = None,
    repo: Path | None = None,
    on_event: Callable[[CompareEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> CompareOutcome:
    """Run both sides' repeats of every point, interleaved; never prints."""
    started = time.monotonic()
    stop = stop or threading.Event()
    emit = on_event or (lambda _event: None)
    points = {side.name: side_points(scenario, side) for side in sides}
    by_name: Mapping[str, InstalledSide] = {side.name: side for side in sides}
    order = run_order(len(points["A"]), options.repeats, options.seed)
    sets = {side.name: _result_set(scenario, side, repo) for side in sides}
    warnings: list[str] = []
    for side in sides:
        missing = unknown_fields(side)
        if missing:
            warnings.append(
                f"{side.name}'s consumer ({side.label}) does not know the setting(s) "
                f"{', '.join(missing)}: they are left out of its settings file"
            )
    run_id = secrets.token_hex(3)
    sequence = 0
    interrupted = False
    error: str | None = None
    try:
        with cluster(scenario) as kafka:
            for number, run in enumerate(order, start=1):
                if stop.is_set():
                    interrupted = True
                    break
                side = by_name[run.side]
                point = points[run.side][run.point]
                event = dict(
                    number=number,
                    total=len(order),
                    run=run,
                    label=point.label,
                    side_label=side.label,
                )
                emit(CompareEvent(kind="run_start", **event))  # type: ignore[arg-type]
                measured = None
                for attempt in range(1 + options.start_retries):
                    sequence += 1
                    ctx = PointContext(
                        bootstrap_servers=kafka.bootstrap_servers,
                        create_topic=kafka.create_topic,
                        broker_pid=kafka.broker_pid,
                        run_id=run_id,
                        sequence=sequence,
                        ready_timeout_s=options.ready_timeout_s,
                        workdir=(
                            None
                            if workdir is None
                            else workdir
                            / f"{number:03d}-{run.side}-point{run.point + 1}"
                            / f"try{attempt + 1}"
                        ),
                        consumer_python=side.python,
                        consumer_pythonpath=side.pythonpath,
                        extra_env={"PYTHONSAFEPATH": "1", **side.env},
                        consumer_fields=side.fields,
                    )

                    def progress(update: PointProgress, event: dict[str, Any] = event) -> None:
                        emit(CompareEvent(kind="progress", progress=update, **event))

                    try:
                        measured = run_point(point, ctx, on_progress=progress, stop=stop)
                        break
                    except RunError as exc:
                        if stop.is_set():
                            interrupted = True
                            break
                        first = str(exc).splitlines()[0]
                        if attempt < options.start_retries:
                            warnings.append(
                                f"run {number} ({run.side}, {point.label}) could not start "
                                f"and was run again: {first}"
                            )
                            continue
                        error = f"run {number} ({run.side}, {point.label}): {exc}"
                if measured is None:
                    break
                measurement, settings = measured
                result = stored_point(
                    measurement, params=point.params, repeat=run.repeat, settings=settings
                )
                sets[run.side] = sets[run.side].with_point(result)
                emit(CompareEvent(kind="run_done", result=result, **event))  # type: ignore[arg-type]
                if stop.is_set():
                    interrupted = True
                    break
                if number < len(order) and scenario.load.cooldown_s > 0:
                    time.sleep(scenario.load.cooldown_s)
    except KeyboardInterrupt:
        interrupted = True
    if interrupted or error is not None:
        reason = error or "interrupted"
        sets = {name: rs.as_partial(reason) for name, rs in sets.items()}
    outcome = judge_all(
        sets["A"], sets["B"], points["A"], options=options, warnings=tuple(warnings)
    )
    return CompareOutcome(
        a=sets["A"],
        b=sets["B"],
        outcome=outcome,
        order=tuple(order),
        sides=sides,
        elapsed_s=time.monotonic() - started,
        interrupted=interrupted,
        error=error,
    )


def judge_all(
    a: ResultSet,
    b: ResultSet,
    points: list[Point],
    *,
    options: CompareOptions,
    warnings: tuple[str, ...] = (),
) -> Outcome:
    """The verdict of every point, from both sides' stored repeats; a note when the
    machine was busy, and one more when it was too busy for the effect asked."""
    notes = list(warnings)
    runs = [*a.points, *b.points]
    busy = sum(p.harness_saturated for p in runs)
    if busy:
        notes.append(
            f"{busy} of {len(runs)} runs had a saturated machine or harness (see each "
            "run's warnings in a/ and b/results.json): other load widens the intervals, "
            "so a real change is harder to detect"
        )
    verdicts = []
    for point in points:
        key = dict(point.params)
        a_runs = [p for p in a.points if dict(p.params) == key]
        b_runs = [p for p in b.points if dict(p.params) == key]
        if not a_runs and not b_runs:
            continue
        verdicts.append(
            judge_point(
                point.label, a_runs, b_runs, alpha=options.alpha, min_effect=options.min_effect
            )
        )
    blind = too_busy(
        [m for v in verdicts for m in v.metrics],
        saturated=busy,
        runs=len(runs),
        names=options.fail_on or METRIC_NAMES,
    )
    if blind:
        notes.append(blind)
    return Outcome(
        points=tuple(verdicts),
        alpha=options.alpha,
        min_effect=options.min_effect,
        fail_on=options.fail_on,
        fail_on_inconclusive=options.fail_on_inconclusive,
        warnings=tuple(notes),
    )
