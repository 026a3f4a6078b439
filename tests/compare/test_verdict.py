"""A compare's outcome: per point, the engine's verdicts, loss and failures, what fails."""

from __future__ import annotations

import pytest

from poolbench.compare.verdict import Outcome, judge_point
from poolbench.gates.verdict import Verdict
from poolbench.results import Latency, Memory, PointResult


def _point(
    repeat: int, rate: float, *, lost: int = 0, duplicates: int = 0, memory: float = 50
) -> PointResult:
    lat = Latency(avg=1, p50=1, p90=2, p95=2.5, p99=3, p999=4, max=5)
    return PointResult(
        params={"consumer.workers": 10},
        repeat=repeat,
        load_mode="saturate",
        throughput_per_s=rate,
        ideal_throughput_per_s=500,
        latency_ms=lat,
        service_ms=lat,
        memory_mb=Memory(peak=memory, mean=40),
        cpu_percent=20,
        cpu_us_per_email=1e4 * 20 / rate,  # 20% of a core at `rate` emails/s
        produced=100,
        delivered=100 - lost,
        lost=lost,
        duplicates=duplicates,
    )


def test_loss_or_duplicates_on_either_side_always_fail() -> None:
    a = [_point(i, 400 + i) for i in range(4)]
    b = [_point(i, 401 + i) for i in range(4)]
    clean = judge_point("p", a, b, alpha=0.05, min_effect=0.1)
    assert clean.problems == ()
    b[2] = _point(2, 403, lost=3)
    a[1] = _point(1, 401, duplicates=2)
    dirty = judge_point("p", a, b, alpha=0.05, min_effect=0.1)
    assert dirty.problems == ("A repeat 2 delivered 2 duplicates", "B repeat 3 lost 3 emails")
    assert dirty.by_metric("throughput").verdict is Verdict.WITHIN
    # CPU per email in microseconds, results.json's own field: the median of A's four.
    cpu = dirty.by_metric("cpu_us_per_email")
    assert cpu.a_median == pytest.approx((1e4 * 20 / 401 + 1e4 * 20 / 402) / 2, rel=1e-4)
    assert cpu.change == pytest.approx(0.0, abs=0.01)
    outcome = Outcome(points=(dirty,), alpha=0.05, min_effect=0.1, fail_on=())
    assert not outcome.passed


def _outcome(
    a_rates: list[float], b_rates: list[float], *, fail_on_inconclusive: bool = False
) -> Outcome:
    a = [_point(i, r) for i, r in enumerate(a_rates)]
    b = [_point(i, r) for i, r in enumerate(b_rates)]
    point = judge_point("p", a, b, alpha=0.05, min_effect=0.05)
    return Outcome(
        points=(point,),
        alpha=0.05,
        min_effect=0.05,
        fail_on=("throughput",),
        fail_on_inconclusive=fail_on_inconclusive,
    )


def test_inconclusive_fails_only_when_asked() -> None:
    noisy_a, noisy_b = [300.0, 420.0, 380.0, 500.0], [350.0, 400.0, 390.0, 470.0]
    lenient = _outcome(noisy_a, noisy_b)
    assert lenient.points[0].by_metric("throughput").verdict is Verdict.INCONCLUSIVE
    assert lenient.passed and lenient.inconclusive
    assert not _outcome(noisy_a, noisy_b, fail_on_inconclusive=True).passed


def test_a_worse_metric_outside_fail_on_does_not_fail() -> None:
    a = [_point(i, 400 + i, memory=50 + i) for i in range(4)]
    b = [_point(i, 400 + i, memory=70 + i) for i in range(4)]
    point = judge_point("p", a, b, alpha=0.05, min_effect=0.1)
    assert point.by_metric("memory_peak_mb").verdict is Verdict.WORSE
    outcome = Outcome(points=(point,), alpha=0.05, min_effect=0.1, fail_on=("throughput",))
    assert outcome.passed and not outcome.regressions
    strict = Outcome(points=(point,), alpha=0.05, min_effect=0.1, fail_on=("memory_peak_mb",))
    assert not strict.passed
