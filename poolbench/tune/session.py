"""One `poolbench tune` session: a base scenario, the search over runner points, the advice.

The runner is injected (`run_point`), so the session is the same against the real parts and
in a test; the CLI passes the runner's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from poolbench.metrics.clock import Clock, SystemClock
from poolbench.results import PointResult
from poolbench.scenario import Scenario
from poolbench.tune.advice import Recommendation, recommend
from poolbench.tune.measured import RunnerMeasure, RunPoint, latency_hint_s
from poolbench.tune.probes import Probe, SearchLimits, Target
from poolbench.tune.search import search

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class TuneOutcome:
    base: Scenario
    recommendation: Recommendation
    points: tuple[PointResult, ...]  # every runner result, in probe order


def tune(
    base: Scenario,
    target: Target,
    limits: SearchLimits,
    *,
    run_point: RunPoint,
    clock: Clock | None = None,
    on_probe: Callable[[Probe], None] | None = None,
) -> TuneOutcome:
    """Search `base` for the smallest pool meeting `target`; Ctrl-C keeps what was measured."""
    if limits.send_s_hint is None:
        hint = latency_hint_s(base.sink.latency)
        if hint:
            limits = dataclasses.replace(limits, send_s_hint=hint)
    measure = RunnerMeasure(base=base, rate=target.rate, run_point=run_point)
    result = search(measure, target, limits, clock=clock or SystemClock(), on_probe=on_probe)
    # Every probe ran with the base's consumer settings besides the pool: repeat them.
    consumer = base.consumer.settings_values()
    return TuneOutcome(
        base=base,
        recommendation=recommend(result, consumer=consumer),
        points=tuple(measure.results),
    )
