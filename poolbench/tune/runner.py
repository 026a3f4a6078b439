"""One probe of the search as a runner point: the `run_point` the session takes.

Each probe is run as a one-point scenario by `poolbench.run.sweep.run_scenario`, which
starts and stops every part (its own embedded broker too: about 35 ms) and turns Ctrl-C
into an interrupted outcome; here that becomes KeyboardInterrupt again, so the search stops
and keeps what it measured.
"""

from __future__ import annotations

from poolbench.errors import RunError
from poolbench.results import PointResult
from poolbench.run.sweep import run_scenario
from poolbench.scenario import Scenario


def run_probe(scenario: Scenario) -> PointResult:
    """Run `scenario`'s one point with the real parts; its result."""
    outcome = run_scenario(scenario)
    if outcome.error is not None:
        raise RunError(outcome.error)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if not outcome.result_set.points:
        raise RunError("the runner returned no point")
    return outcome.result_set.points[0]
