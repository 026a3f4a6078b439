"""A crash after measuring still keeps what was measured."""

from __future__ import annotations

from typing import Any

import pytest

from poolbench.run import sweep
from poolbench.scenario import parse_scenario


@pytest.mark.slow
def test_a_crash_in_the_second_point_keeps_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sweep.to_point_result
    calls: list[int] = []

    def crash_on_the_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("a bug after measuring")
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "to_point_result", crash_on_the_second)
    scenario = parse_scenario(
        {
            "name": "crash",
            "topic": {"partitions": 2},
            "sink": {"latency": "5ms"},
            "consumer": {"workers": 2, "buffer": 4},
            "load": {"rate": "20/s", "duration": "1s", "warmup": "1s", "drain": "5s"},
            "sweep": {"mode": "zip", "consumer.workers": [2, 4, 8]},
        }
    )
    outcome = sweep.run_scenario(scenario)
    assert outcome.error is not None and "point 2" in outcome.error
    assert "crashed: ZeroDivisionError('a bug after measuring')" in outcome.error
    assert len(outcome.result_set.points) == 1  # the first point is kept...
    assert outcome.result_set.partial  # ...in a result set marked partial
