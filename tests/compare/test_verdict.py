"""Verdicts on seeded synthetic repeats, against a brute-force interval."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from poolbench.compare.verdict import BY_NAME, Verdict, judge, judge_point
from poolbench.results import Latency, Memory, PointResult

THROUGHPUT = BY_NAME["throughput"]
P99 = BY_NAME["p99"]
MEMORY = BY_NAME["memory"]


def _brute_verdict(
    a: list[float], b: list[float], *, higher_is_better: bool, alpha: float, min_effect: float
) -> Verdict:
    """From scratch: log-scale differences, the null of U by enumeration, the rule."""
    m, n = len(a), len(b)
    diffs = sorted(math.log(y) - math.log(x) for x in a for y in b)
    null = []
    for chosen in itertools.combinations(range(m + n), m):
        others = [r for r in range(m + n) if r not in chosen]
        null.append(sum(1 for x in chosen for y in others if x > y))
    c = 0
    while c < m * n // 2 and sum(u <= c for u in null) / len(null) <= alpha / 2:
        c += 1
    if c == 0:
        return Verdict.NO_CHANGE
    low, high = diffs[c - 1], diffs[m * n - c]
    if low <= 0 <= high:
        return Verdict.NO_CHANGE
    if max(abs(low), abs(high)) < math.log1p(min_effect) - 1e-12:
        return Verdict.NO_CHANGE
    up = low > 0
    return Verdict.BETTER if up == higher_is_better else Verdict.WORSE


@pytest.mark.parametrize("seed", range(60))
def test_verdict_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    m = n = rng.randint(3, 7)
    factor = rng.choice([0.7, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.3])
    noise = rng.choice([0.01, 0.03, 0.08])
    alpha = rng.choice([0.05, 0.1])
    min_effect = rng.choice([0.0, 0.05, 0.1, 0.2])
    a = [400 * (1 + rng.gauss(0, noise)) for _ in range(m)]
    b = [400 * factor * (1 + rng.gauss(0, noise)) for _ in range(n)]
    for metric in (THROUGHPUT, P99):
        got = judge(metric, a, b, alpha=alpha, min_effect=min_effect)
        want = _brute_verdict(
            a, b, higher_is_better=metric.higher_is_better, alpha=alpha, min_effect=min_effect
        )
        assert got.verdict is want, (a, b, got.detail)


def test_a_clear_drop_is_slower_and_a_rise_faster() -> None:
    rng = random.Random(1)
    a = [400 * (1 + rng.gauss(0, 0.02)) for _ in range(5)]
    slow = [0.85 * x for x in a]
    v = judge(THROUGHPUT, a, slow, alpha=0.05, min_effect=0.1)
    assert v.verdict is Verdict.WORSE and v.word == "slower"
    assert v.change == pytest.approx(-0.15, abs=0.02)
    assert v.low is not None and v.high is not None and v.change is not None
    assert v.low <= v.change <= v.high < 0
    v = judge(THROUGHPUT, slow, a, alpha=0.05, min_effect=0.1)
    assert v.verdict is Verdict.BETTER and v.word == "faster"
    # Latency the other way round: higher is slower.
    assert judge(P99, a, [1.2 * x for x in a], alpha=0.05, min_effect=0.1).word == "slower"
    assert judge(MEMORY, a, [0.8 * x for x in a], alpha=0.05, min_effect=0.1).word == "less"


def test_a_real_but_small_change_is_below_min_effect() -> None:
    a = [400.0, 401.0, 399.0, 400.5, 399.5]
    b = [x * 0.97 for x in a]
    v = judge(THROUGHPUT, a, b, alpha=0.05, min_effect=0.1)
    assert v.verdict is Verdict.NO_CHANGE
    assert "smaller than the --min-effect" in v.detail
    assert judge(THROUGHPUT, a, b, alpha=0.05, min_effect=0.02).verdict is Verdict.WORSE


def test_false_alarms_stay_below_alpha_on_exchangeable_samples() -> None:
    rng = random.Random(3)
    alarms = 0
    trials = 1000
    for _ in range(trials):
        a = [rng.gauss(400, 20) for _ in range(5)]
        b = [rng.gauss(400, 20) for _ in range(5)]
        alarms += judge(THROUGHPUT, a, b, alpha=0.05, min_effect=0.0).verdict is not (
            Verdict.NO_CHANGE
        )
    assert alarms / trials <= 0.05


def test_missing_values_give_no_verdict() -> None:
    v = judge(THROUGHPUT, [1.0, math.nan, 2.0], [1.0, 2.0, 3.0], alpha=0.05, min_effect=0.1)
    assert v.verdict is Verdict.NO_CHANGE and v.change is None


def _point(repeat: int, rate: float, *, lost: int = 0, duplicates: int = 0) -> PointResult:
    lat = Latency(avg=1, p50=1, p90=2, p95=2.5, p99=3, p999=4, max=5)
    return PointResult(
        params={"consumer.workers": 10},
        repeat=repeat,
        load_mode="saturate",
        throughput_per_s=rate,
        ideal_throughput_per_s=500,
        latency_ms=lat,
        service_ms=lat,
        memory_mb=Memory(peak=50, mean=40),
        cpu_percent=20,
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
    assert dirty.by_metric("throughput").verdict is Verdict.NO_CHANGE
    assert dirty.by_metric("cpu_per_email").change == pytest.approx(0.0, abs=0.01)
