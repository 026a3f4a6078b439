"""The absolute gates `poolbench run` checks: verdicts per point naming the measured value."""

from __future__ import annotations

import pytest

from poolbench.errors import ConfigError
from poolbench.gates.absolute import evaluate_gates
from poolbench.results import Latency, Memory, PointResult


def point(workers: int, throughput: float, p99: float, delivered: int) -> PointResult:
    return PointResult(
        params={"consumer.workers": workers},
        repeat=0,
        load_mode="saturate",
        throughput_per_s=throughput,
        ideal_throughput_per_s=100.0,
        latency_ms=Latency(avg=p99 / 2, p50=p99 / 2, p90=p99, p95=p99, p99=p99, p999=p99, max=p99),
        memory_mb=Memory(peak=40.0, mean=39.0),
        cpu_percent=20.0,
        produced=100,
        delivered=delivered,
        lost=100 - delivered,
    )


def test_failures_name_the_point_gate_and_measured_value() -> None:
    points = [point(5, 98.0, 120.0, 100), point(10, 60.0, 700.0, 99)]
    report = evaluate_gates(["throughput >= 0.9 * ideal", "p99_ms < 500", "lost == 0"], points)
    assert len(report.verdicts) == 6
    assert not report.passed
    failed = [v.describe() for v in report.failures]
    assert failed == [
        "point consumer.workers=10 (repeat 0): gate 'throughput >= 0.9 * ideal' FAILED "
        "(measured: 60 >= 90)",
        "point consumer.workers=10 (repeat 0): gate 'p99_ms < 500' FAILED (measured: 700 < 500)",
        "point consumer.workers=10 (repeat 0): gate 'lost == 0' FAILED (measured: 1 == 0)",
    ]


def test_all_pass_and_no_gates_pass() -> None:
    assert evaluate_gates(["lost == 0"], [point(5, 98.0, 120.0, 100)]).passed
    assert evaluate_gates([], [point(5, 98.0, 120.0, 100)]).passed


def test_a_malformed_gate_is_a_config_error_before_any_point() -> None:
    with pytest.raises(ConfigError):
        evaluate_gates(["__import__('os')"], [])
