"""A compare's judgement of its stored repeats, without running anything."""

from __future__ import annotations

import dataclasses

from poolbench.compare.session import CompareOptions, judge_all
from poolbench.results import ResultSet
from poolbench.scenario import expand, parse_scenario
from tests.compare.test_verdict import _point
from tests.gates.factories import ENVIRONMENT

SCENARIO = parse_scenario(
    {
        "name": "busy",
        "consumer": {"workers": 10, "buffer": 100},
        "load": {"rate": "saturate", "duration": "2s"},
    }
)


def _side(rates: list[float], *, saturated: bool) -> ResultSet:
    points = tuple(
        dataclasses.replace(_point(i, r), params={}, harness_saturated=saturated)
        for i, r in enumerate(rates)
    )
    return ResultSet(
        scenario_name="busy",
        scenario={"name": "busy"},
        scenario_hash="h",
        environment=ENVIRONMENT,
        points=points,
    )


def _options(min_effect: float) -> CompareOptions:
    return CompareOptions(repeats=4, alpha=0.05, min_effect=min_effect, fail_on=("throughput",))


def test_a_busy_machine_too_blurred_for_the_effect_asked_is_said() -> None:
    a = _side([300.0, 420.0, 380.0, 500.0], saturated=True)
    b = _side([350.0, 400.0, 390.0, 470.0], saturated=True)
    points = expand(SCENARIO)
    outcome = judge_all(a, b, points, options=_options(0.05))
    (throughput,) = [m for m in outcome.points[0].metrics if m.metric.name == "throughput"]
    assert throughput.resolution is not None and throughput.resolution > 0.05
    busy = [w for w in outcome.warnings if "too busy for the effect asked" in w]
    assert len(busy) == 1 and "8 of 8 runs" in busy[0] and "throughput" in busy[0]
    # Quiet runs, or an effect the spread could see: no such note.
    quiet = judge_all(
        _side([300.0, 420.0, 380.0, 500.0], saturated=False),
        _side([350.0, 400.0, 390.0, 470.0], saturated=False),
        points,
        options=_options(0.05),
    )
    assert not [w for w in quiet.warnings if "too busy" in w]
    wide = judge_all(a, b, points, options=_options(0.9))
    assert not [w for w in wide.warnings if "too busy" in w]
