"""How long a scenario's run takes, estimated from measured constants (`poolbench validate`).

The load's own time (warm-up + measured window per point) is only part of a run: the old
estimate (load time alone) said 16 s for quick.yaml, which took 29 s. Measured once with
`poolbench run --json-lines` of scenarios/quick.yaml and scenarios/faults.yaml (under
`pbt`, on a shared 2-core machine at load ~8), from the timestamps of its events:

| phase                                   | quick.yaml    | faults.yaml   | constant |
| --------------------------------------- | ------------- | ------------- | -------- |
| start-up: imports, environment, broker  | 6.9 s         | 13.4 s        | 7 s      |
| a point's parts starting (sink, ...)    | 4.2, 4.3 s    | 6.9, 10.0 s   | 5 s      |
| drain + stop after the load, per point  | 2.3, 3.5 s    | 2.0, 1.9 s    | 2.5 s    |
| results, report and charts, then exit   | 11.3 s (2 pt) | 16.0 s (2 pt) | 5 s + 3 s/point |
| total (load: 2 x 8 s, 2 x 18 s)         | 49.4 s        | 84.6 s        |          |

The drain never exceeds the scenario's `load.drain`; the scenario's `load.cooldown` is
slept between points. An estimate, not a promise: a busier machine starts parts slower.
"""

from __future__ import annotations

from typing import Final

from poolbench.scenario.model import Scenario

STARTUP_S: Final = 7.0  # run start to the first point: imports, environment, broker
POINT_START_S: Final = 5.0  # a point's sink, consumer and load generator starting
POINT_STOP_S: Final = 2.5  # after the load: the drain (at most load.drain) and the stop
REPORT_S: Final = 5.0  # results.json, report.md, exit
REPORT_PER_POINT_S: Final = 3.0  # each point's charts


def estimate_s(scenario: Scenario, points: int) -> float:
    """Seconds a run of `points` points of `scenario` is expected to take."""
    load = scenario.load
    per_point = POINT_START_S + load.total_s + min(load.drain_s, POINT_STOP_S)
    between = load.cooldown_s * max(0, points - 1)
    return STARTUP_S + points * per_point + between + REPORT_S + REPORT_PER_POINT_S * points
