"""The one statistics module against references: published critical values of U, and
brute-force enumeration of every rank assignment inside the test (never the module's
own formula)."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from fractions import Fraction

import pytest

from poolbench.gates.stats import (
    critical_count,
    hodges_lehmann,
    mann_whitney,
    midranks,
    min_repeats,
    reachable,
    shift_interval,
    significance,
    u_null_counts,
)


def _brute_p(a: list[float], b: list[float]) -> float:
    """Two-sided permutation p of the rank sum: every split of the pooled values is
    equally likely; count those at least as far from the mean as the observed one."""
    pooled = [*a, *b]
    # Ranks by counting, independent of the module's midranks: 1 + below + (equal-1)/2.
    ranks = [1 + sum(y < x for y in pooled) + (sum(y == x for y in pooled) - 1) / 2 for x in pooled]
    n = len(b)
    mean = Fraction(n * (len(pooled) + 1), 2)
    observed = abs(Fraction(sum(ranks[len(a) :])) - mean)
    splits = list(itertools.combinations(range(len(pooled)), n))
    extreme = sum(
        1 for chosen in splits if abs(Fraction(sum(ranks[i] for i in chosen)) - mean) >= observed
    )
    return extreme / len(splits)


def _brute_null(m: int, n: int) -> list[int]:
    """U of every arrangement of m + n distinct ranks (sample 1 takes the chosen ones)."""
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


def test_two_against_two_disjoint_samples_are_not_significant() -> None:
    # The bootstrap this replaced called this significant at 5%: it happens by chance in
    # one arrangement in three (2 of the C(4, 2) = 6 splits are this extreme).
    result = significance([1, 2], [3, 4], alpha=0.05)
    assert not result.significant
    assert not result.reachable
    assert result.p_value == pytest.approx(1 / 3)
    assert "needs at least 4 per side" in result.detail


@pytest.mark.parametrize(
    ("m", "n", "alpha", "table_u"),
    [
        # Two-tailed critical values of U from the published Mann-Whitney tables: U at or
        # below them is significant. The interval's c is that value plus one.
        (4, 4, 0.05, 0),
        (5, 5, 0.05, 2),
        (6, 6, 0.05, 5),
        (7, 7, 0.05, 8),
        (8, 8, 0.05, 13),
        (10, 10, 0.05, 23),
        (15, 15, 0.05, 64),
        (20, 20, 0.05, 127),
        (3, 9, 0.05, 2),
        (5, 10, 0.05, 8),
        (6, 6, 0.01, 2),
        (8, 8, 0.01, 7),
        (10, 10, 0.01, 16),
        (20, 20, 0.01, 105),
    ],
)
def test_critical_counts_match_the_published_tables(
    m: int, n: int, alpha: float, table_u: int
) -> None:
    c, coverage = critical_count(m, n, alpha)
    assert c - 1 == table_u
    assert 1 - alpha <= coverage < 1


@pytest.mark.parametrize(("m", "n"), [(3, 3), (4, 4), (5, 5), (4, 6), (6, 3), (7, 7)])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_critical_count_and_coverage_match_brute_force(m: int, n: int, alpha: float) -> None:
    c, coverage = critical_count(m, n, alpha)
    assert c == _brute_c(m, n, alpha)
    if c:
        null = _brute_null(m, n)
        assert coverage == pytest.approx(1 - 2 * sum(u <= c - 1 for u in null) / len(null))


def test_u_distribution_counts_every_arrangement() -> None:
    assert u_null_counts(2, 2) == (1, 1, 2, 1, 1)
    for m, n in [(1, 4), (3, 5), (6, 6), (7, 4)]:
        null = _brute_null(m, n)
        assert u_null_counts(m, n) == tuple(null.count(u) for u in range(m * n + 1))


@pytest.mark.parametrize("seed", range(12))
def test_exact_p_matches_enumeration_without_ties(seed: int) -> None:
    rng = random.Random(seed)
    a = [rng.gauss(0, 1) for _ in range(rng.randint(1, 7))]
    b = [rng.gauss(0.8, 1) for _ in range(rng.randint(1, 7))]
    result = mann_whitney(a, b)
    assert not result.ties
    assert result.p_value == pytest.approx(_brute_p(a, b), abs=1e-12)
    assert result.u == sum((y > x) + 0.5 * (y == x) for x in a for y in b)


@pytest.mark.parametrize("seed", range(12))
def test_exact_p_matches_enumeration_with_ties(seed: int) -> None:
    rng = random.Random(100 + seed)
    a = [float(rng.randint(1, 5)) for _ in range(rng.randint(2, 7))]
    b = [float(rng.randint(2, 6)) for _ in range(rng.randint(2, 7))]
    result = mann_whitney(a, b)
    assert result.p_value == pytest.approx(_brute_p(a, b), abs=1e-12)


def test_complete_separation_gives_the_smallest_p_and_all_equal_none() -> None:
    assert mann_whitney([1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0]).p_value == (
        pytest.approx(2 / 70)
    )
    assert mann_whitney([2.0, 2.0, 2.0], [2.0, 2.0]).p_value == 1.0


def test_exact_at_sizes_the_normal_approximation_used_to_take() -> None:
    # 25 against 22 was "normal" before; now exact, and still a proper probability.
    rng = random.Random(11)
    a = [rng.gauss(0, 1) for _ in range(25)]
    b = [rng.gauss(0.5, 1) for _ in range(22)]
    p = mann_whitney(a, b).p_value
    assert 0 < p <= 1
    # Symmetric: swapping the sides gives the same two-sided p.
    assert mann_whitney(b, a).p_value == pytest.approx(p)


def test_the_minimum_repeats_are_the_first_that_can_reach_alpha() -> None:
    # 2 / C(6, 3) = 0.1 > 0.05; 2 / C(8, 4) = 0.029.
    assert min_repeats(0.05) == 4
    assert min_repeats(0.1) == 3
    assert min_repeats(0.01) == 5
    assert not reachable(3, 3, 0.05) and reachable(4, 4, 0.05)
    # One repeat against many: 2 / (n + 1) reaches 0.05 from n = 39 on.
    assert not reachable(1, 38, 0.05) and reachable(1, 39, 0.05)
    for alpha in (0.05, 0.1, 0.2):
        n = min_repeats(alpha)
        assert critical_count(n, n, alpha)[0] >= 1
        assert critical_count(n - 1, n - 1, alpha)[0] == 0


def test_too_few_repeats_give_no_interval() -> None:
    shift = shift_interval([1.0, 2.0], [3.0, 4.0], alpha=0.05)
    assert shift.low is None and shift.high is None
    assert not shift.excludes_zero


def _accepts(a: list[float], b: list[float], d: float, c: int) -> bool:
    """Does the U test of (b - d) against a, with critical count c, accept shift d?"""
    u = sum(1 for x in a for y in b if y - d > x)
    return c <= u <= len(a) * len(b) - c


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
    assert shift.estimate == pytest.approx(statistics.median(diffs))
    assert hodges_lehmann(a, b) == pytest.approx(shift.estimate)
    if c == 0:
        assert shift.low is None
        return
    assert shift.low is not None and shift.high is not None
    probes = [diffs[0] - 1, diffs[-1] + 1]
    probes += [(p + q) / 2 for p, q in itertools.pairwise(diffs) if q > p]
    for d in probes:
        assert (shift.low <= d <= shift.high) == _accepts(a, b, d, c), d


def test_coverage_on_seeded_samples() -> None:
    """The 5 v 5 interval at alpha 0.05 covers the true shift in ~96.8% of samples."""
    rng = random.Random(7)
    trials = 3000
    hits = 0
    for _ in range(trials):
        a = [rng.gauss(0, 1) for _ in range(5)]
        b = [rng.gauss(0.7, 1) for _ in range(5)]
        s = shift_interval(a, b, alpha=0.05)
        assert s.low is not None and s.high is not None
        hits += s.low <= 0.7 <= s.high
    assert 0.955 <= hits / trials <= 0.98


def test_false_positive_rate_stays_below_alpha_at_every_size() -> None:
    rng = random.Random(2026)
    for n in (2, 3, 4, 6):
        trials = 400
        hits = sum(
            significance(
                [rng.gauss(100, 10) for _ in range(n)],
                [rng.gauss(100, 10) for _ in range(n)],
                alpha=0.05,
            ).significant
            for _ in range(trials)
        )
        assert hits / trials <= 0.05 + 0.02, n


def test_midranks_share_ties() -> None:
    assert midranks([30.0, 10.0, 20.0, 20.0]) == [4.0, 1.0, 2.5, 2.5]


@pytest.mark.parametrize(("a", "b"), [([], [1.0]), ([1.0], []), ([math.nan], [1.0])])
def test_invalid_samples_are_rejected(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError, match=r"needs at least one value|NaN"):
        mann_whitney(a, b)
