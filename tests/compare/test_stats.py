"""The shift interval and U test against brute force, on seeded synthetic samples."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from poolbench.compare.stats import critical_count, hodges_lehmann, shift_interval


def _brute_null(m: int, n: int) -> list[int]:
    """U of every arrangement of m + n ranks (sample 1 takes the chosen positions)."""
    out = []
    for chosen in itertools.combinations(range(m + n), m):
        others = [r for r in range(m + n) if r not in chosen]
        out.append(sum(1 for x in chosen for y in others if x > y))
    return out


def _brute_c(m: int, n: int, alpha: float) -> int:
    null = _brute_null(m, n)
    c = 0
    while c < m * n // 2 and sum(u <= c for u in null) / len(null) <= alpha / 2:
        c += 1
    return c


def _accepts(a: list[float], b: list[float], d: float, c: int) -> bool:
    """Does the U test of (b - d) against a, with critical count c, accept shift d?"""
    u = sum(1 for x in a for y in b if y - d > x)
    return c <= u <= len(a) * len(b) - c


@pytest.mark.parametrize(("m", "n"), [(3, 3), (4, 4), (5, 5), (4, 6), (6, 3), (7, 7)])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_critical_count_matches_brute_force(m: int, n: int, alpha: float) -> None:
    c, coverage, method = critical_count(m, n, alpha)
    assert method == "exact"
    assert c == _brute_c(m, n, alpha)
    if c:
        null = _brute_null(m, n)
        tail = sum(u <= c - 1 for u in null) / len(null)
        assert coverage == pytest.approx(1 - 2 * tail)
        assert coverage >= 1 - alpha - 1e-12


def test_five_against_five_at_alpha_005_is_the_third_difference() -> None:
    c, coverage, _ = critical_count(5, 5, 0.05)
    assert c == 3
    assert coverage == pytest.approx(1 - 2 * 4 / 252)


def test_too_few_repeats_give_no_interval() -> None:
    c, _, _ = critical_count(2, 2, 0.05)
    assert c == 0
    shift = shift_interval([1.0, 2.0], [3.0, 4.0], alpha=0.05)
    assert shift.low is None and shift.high is None
    assert not shift.excludes_zero


def test_normal_approximation_is_close_to_exact_at_the_cut() -> None:
    exact, _, _ = critical_count(20, 20, 0.05)
    z = 1.959963984540054
    normal = math.floor(200 - z * math.sqrt(400 * 41 / 12))
    assert abs(exact - normal) <= 1
    c, coverage, method = critical_count(25, 25, 0.05)
    assert method == "normal"
    assert c == math.floor(25 * 25 / 2 - z * math.sqrt(625 * 51 / 12))
    assert coverage == pytest.approx(0.95)


@pytest.mark.parametrize("seed", range(40))
def test_interval_is_the_set_of_accepted_shifts(seed: int) -> None:
    rng = random.Random(seed)
    m, n = rng.randint(3, 8), rng.randint(3, 8)
    alpha = rng.choice([0.05, 0.1, 0.2])
    a = [rng.gauss(100, 5) for _ in range(m)]
    b = [rng.gauss(100 + rng.uniform(-10, 10), 5) for _ in range(n)]
    shift = shift_interval(a, b, alpha=alpha)
    c = _brute_c(m, n, alpha)
    diffs = sorted(y - x for x in a for y in b)
    # Hodges-Lehmann: the median of every pairwise difference.
    assert shift.estimate == pytest.approx(statistics.median(diffs))
    assert hodges_lehmann(a, b) == pytest.approx(shift.estimate)
    if c == 0:
        assert shift.low is None
        return
    assert shift.low is not None and shift.high is not None
    # Between consecutive differences, membership in [low, high] == the test accepts.
    probes = [diffs[0] - 1, diffs[-1] + 1]
    probes += [(p + q) / 2 for p, q in itertools.pairwise(diffs) if q > p]
    for d in probes:
        assert (shift.low <= d <= shift.high) == _accepts(a, b, d, c), d


def test_coverage_on_seeded_samples() -> None:
    """The 5 v 5 interval at alpha 0.05 covers the true shift in ~96.8% of samples."""
    rng = random.Random(7)
    hits = 0
    trials = 3000
    for _ in range(trials):
        a = [rng.gauss(0, 1) for _ in range(5)]
        b = [rng.gauss(0.7, 1) for _ in range(5)]
        s = shift_interval(a, b, alpha=0.05)
        assert s.low is not None and s.high is not None
        hits += s.low <= 0.7 <= s.high
    assert 0.955 <= hits / trials <= 0.98


def test_p_value_is_mann_whitneys() -> None:
    # Every b above every a: the smallest two-sided exact p, 2 / C(10, 5).
    s = shift_interval([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], alpha=0.05)
    assert s.p_value == pytest.approx(2 / 252)
    assert s.excludes_zero
