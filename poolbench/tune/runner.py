"""The runner's single point, as the `run_point(scenario) -> PointResult` the session takes.

Each probe is run as a one-point scenario by `poolbench.run.sweep.run_scenario`, which
starts and stops every part (its own embedded broker too: about 35 ms) and turns Ctrl-C
into an interrupted outcome; here that becomes KeyboardInterrupt again, so the search stops
and keeps what it measured.
"""

from __future__ import annotations

import importlib
from typing import cast

from poolbench.errors import RunError
from poolbench.results import PointResult
from poolbench.scenario import Scenario

# Imported by name: the runner landed on its own branch after this module was written.
_SWEEP = "poolbench.run.sweep"


def run_point(scenario: Scenario) -> PointResult:
    sweep = importlib.import_module(_SWEEP)
    outcome = sweep.run_scenario(scenario)
    if outcome.error is not None:
        raise RunError(outcome.error)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if not outcome.result_set.points:
        raise RunError("the runner returned no point")
    return cast(PointResult, outcome.result_set.points[0])
