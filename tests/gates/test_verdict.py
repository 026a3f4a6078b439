"""The one verdict engine on seeded synthetic repeats, against a brute-force interval."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from poolbench.gates.verdict import BY_NAME, METRIC_NAMES, Verdict, judge, metric_named, too_busy
from poolbench.results.model import METRIC_NAMES as RESULT_FIELDS

THROUGHPUT = BY_NAME["throughput"]
P99 = BY_NAME["p99_ms"]
MEMORY = BY_NAME["memory_peak_mb"]


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
        return Verdict.INCONCLUSIVE
    low, high = math.expm1(diffs[c - 1]), math.expm1(diffs[m * n - c])
    if -min_effect <= low and high <= min_effect:
        return Verdict.WITHIN
    if low <= 0 <= high:
        return Verdict.INCONCLUSIVE
    return Verdict.BETTER if (low > 0) == higher_is_better else Verdict.WORSE


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


def test_metric_names_are_the_result_fields_and_old_names_are_aliases() -> None:
    known = set(RESULT_FIELDS) | {"cpu_us_per_email"}  # added to results by another branch
    assert set(METRIC_NAMES) <= known
    assert metric_named("p99") is P99 and metric_named("memory") is MEMORY
    assert metric_named("cpu_per_email") is BY_NAME["cpu_us_per_email"]
    assert metric_named("nonsense") is None


def test_a_clear_drop_is_slower_and_a_rise_faster() -> None:
    rng = random.Random(1)
    a = [400 * (1 + rng.gauss(0, 0.02)) for _ in range(5)]
    slow = [0.85 * x for x in a]
    v = judge(THROUGHPUT, a, slow, alpha=0.05, min_effect=0.1)
    assert v.verdict is Verdict.WORSE and v.word == "slower"
    assert v.change == pytest.approx(-0.15, abs=0.02)
    assert v.low is not None and v.high is not None and v.change is not None
    assert v.low <= v.change <= v.high < 0
    assert judge(THROUGHPUT, slow, a, alpha=0.05, min_effect=0.1).word == "faster"
    assert judge(P99, a, [1.2 * x for x in a], alpha=0.05, min_effect=0.1).word == "slower"
    assert judge(MEMORY, a, [0.8 * x for x in a], alpha=0.05, min_effect=0.1).word == "less"


def test_the_three_verdicts_and_what_each_could_see() -> None:
    a = [400.0, 401.0, 399.0, 400.5, 399.5]
    small = judge(THROUGHPUT, a, [x * 0.97 for x in a], alpha=0.05, min_effect=0.1)
    assert small.verdict is Verdict.WITHIN
    assert "lies inside +-10%" in small.detail and "a real change" in small.detail
    assert small.word == "no change beyond +-10%"
    assert judge(THROUGHPUT, a, [x * 0.97 for x in a], alpha=0.05, min_effect=0.02).verdict is (
        Verdict.WORSE
    )
    noisy = judge(THROUGHPUT, [300, 420, 380, 500, 350], a, alpha=0.05, min_effect=0.1)
    assert noisy.verdict is Verdict.INCONCLUSIVE
    assert "wider than +-10%" in noisy.detail
    # What it could see: the interval's half-width, from its own spread.
    for v in (small, noisy):
        assert v.low is not None and v.high is not None and v.resolution is not None
        half = (math.log1p(v.high) - math.log1p(v.low)) / 2
        assert v.resolution == pytest.approx(math.expm1(half))
    assert small.resolution is not None and noisy.resolution is not None
    assert small.resolution < 0.02
    assert noisy.resolution > 0.1


def test_too_few_repeats_are_inconclusive_or_thresholds_alone() -> None:
    # Three against three, B's memory higher in every pair: 2 / C(6, 3) = 0.1 > 0.05.
    a, b = [50.0, 51.0, 52.0], [55.0, 56.0, 57.0]
    v = judge(MEMORY, a, b, alpha=0.05, min_effect=0.05)
    assert v.verdict is Verdict.INCONCLUSIVE and not v.tested
    assert "can never reach alpha 0.05" in v.detail and "at least 4 per side" in v.detail
    gate = judge(MEMORY, a, b, alpha=0.05, min_effect=0.05, thresholds_alone=True)
    assert gate.verdict is Verdict.WORSE and not gate.tested
    # The Hodges-Lehmann estimate: the median of the nine pairwise ratios, 56/51 here.
    ratios = sorted(y / x for x in a for y in b)
    assert gate.change == pytest.approx(ratios[4] - 1) == pytest.approx(56 / 51 - 1)
    assert v.change == gate.change
    assert "thresholds alone" in gate.detail and "no significance was possible" in gate.detail
    wide = judge(MEMORY, a, b, alpha=0.05, min_effect=0.2, thresholds_alone=True)
    assert wide.verdict is Verdict.WITHIN


def test_false_alarms_stay_below_alpha_on_exchangeable_samples() -> None:
    rng = random.Random(3)
    trials = 1000
    alarms = 0
    for _ in range(trials):
        a = [rng.gauss(400, 20) for _ in range(5)]
        b = [rng.gauss(400, 20) for _ in range(5)]
        verdict = judge(THROUGHPUT, a, b, alpha=0.05, min_effect=0.0).verdict
        alarms += verdict in (Verdict.WORSE, Verdict.BETTER)
    assert alarms / trials <= 0.05


def test_not_measured_never_passes() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, math.nan, 6.0, 8.0]
    v = judge(THROUGHPUT, a, b, alpha=0.05, min_effect=1)
    assert v.verdict is Verdict.WORSE and not v.tested
    # The change over the repeats that measured is still shown: B twice A's.
    assert v.change is not None and v.change > 0 and "n/a" in v.detail
    v = judge(THROUGHPUT, b, a, alpha=0.05, min_effect=1)
    assert v.verdict is Verdict.INCONCLUSIVE
    nothing = judge(THROUGHPUT, a, [math.nan] * 4, alpha=0.05, min_effect=1)
    assert nothing.verdict is Verdict.WORSE and nothing.change is None


def test_too_busy_names_the_metric_that_could_not_see_its_effect() -> None:
    a = [400.0, 401.0, 399.0, 400.5, 399.5]
    sharp = judge(THROUGHPUT, a, a, alpha=0.05, min_effect=0.1)
    blurred = judge(P99, [300, 420, 380, 500, 350], a, alpha=0.05, min_effect=0.1)
    assert too_busy([sharp, blurred], saturated=0, runs=10, names=["p99_ms"]) is None
    assert too_busy([sharp], saturated=10, runs=10, names=["throughput"]) is None
    note = too_busy([sharp, blurred], saturated=7, runs=10, names=["throughput", "p99_ms"])
    assert note is not None
    assert "7 of 10 runs" in note and "end-to-end p99 could only see" in note
