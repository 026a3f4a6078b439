"""The budget carries both loops' lag and says when the sink's could have moved time."""

from __future__ import annotations

from typing import Any

from poolbench.metrics.loop_lag import LoopLag
from poolbench.run.budget import sink_lag_note, time_budget
from tests.run.test_budget import lockstep

QUIET = LoopLag(samples=100, p50_ms=0.02, p99_ms=0.05, max_ms=0.2)
LATE = LoopLag(samples=100, p50_ms=0.5, p99_ms=4.0, max_ms=12.0)


def test_the_lags_are_carried_into_the_budget_and_its_dict() -> None:
    budget = time_budget([lockstep(new=True)], consumer_lag=LATE, sink_lag=QUIET)
    assert budget is not None
    assert (budget.consumer_lag_p50_ms, budget.consumer_lag_p99_ms) == (0.5, 4.0)
    assert budget.consumer_lag_max_ms == 12.0
    assert (budget.sink_lag_p99_ms, budget.sink_lag_max_ms) == (0.05, 0.2)
    doc = budget.as_dict()
    assert doc["sink_lag_p50_ms"] == 0.02
    assert doc["consumer_lag_p99_ms"] == 4.0


def test_not_measured_reads_none_and_gives_no_note() -> None:
    budget = time_budget([lockstep(new=True)])
    assert budget is not None
    assert budget.sink_lag_p99_ms is None and budget.consumer_lag_max_ms is None
    assert sink_lag_note(budget) is None


def test_a_late_sink_loop_is_named_a_quiet_one_is_not() -> None:
    late = time_budget([lockstep(new=True, think_ms=1)], sink_lag=LATE)
    quiet = time_budget([lockstep(new=True, think_ms=1)], sink_lag=QUIET)
    assert late is not None and quiet is not None
    assert late.client_ms > 0
    note = sink_lag_note(late)
    assert note is not None
    assert "4.00 ms late" in note and "'client'" in note
    assert sink_lag_note(quiet) is None
    # Only the sink's lag moves the split: a late consumer alone is no reason to doubt it.
    consumer_only = time_budget([lockstep(new=True)], consumer_lag=LATE)
    assert consumer_only is not None and sink_lag_note(consumer_only) is None


def test_the_point_takes_the_consumer_lag_from_its_summaries() -> None:
    from poolbench.run.point import consumer_loop_lag

    docs: list[dict[str, Any]] = [
        {"sent": 1, "loop_lag": QUIET.as_dict()},
        {"sent": 1, "loop_lag": LATE.as_dict()},
        {"sent": 1},  # a foreign consumer, or one before the probe: not reported
    ]
    assert consumer_loop_lag(docs) == LATE  # of several instances, the worst p99
    assert consumer_loop_lag([{"sent": 1}]) is None
