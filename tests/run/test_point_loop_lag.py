"""A real point carries both event loops' lag into its budget and its stored result."""

from __future__ import annotations

import pytest

from poolbench.run.point import PointContext
from poolbench.run.stored import stored_point
from tests.run.test_point import context, measured, one_point

pytestmark = pytest.mark.slow
__all__ = ["context"]  # the fixture, imported for this module's tests


def test_a_point_reports_the_consumer_and_sink_loop_lag(context: PointContext) -> None:
    point = one_point(
        sink={"latency": "20ms"},
        consumer={"workers": 5, "buffer": 10, "connection_reuse": False},
        load={"rate": "saturate", "duration": "3s", "warmup": "1s", "drain": "10s"},
    )
    result = measured(point, context)
    assert result.error is None
    budget = result.budget
    assert budget is not None
    for side in ("consumer", "sink"):
        p50, p99, peak = (getattr(budget, f"{side}_lag_{q}_ms") for q in ("p50", "p99", "max"))
        assert p50 is not None and p99 is not None and peak is not None, side
        assert 0 < p50 <= p99 <= peak, side
    stored = stored_point(result, params=dict(point.params))
    assert stored.budget_ms is not None
    assert stored.budget_ms.sink_lag_p99_ms == budget.sink_lag_p99_ms
    assert stored.budget_ms.consumer_lag_max_ms == budget.consumer_lag_max_ms
