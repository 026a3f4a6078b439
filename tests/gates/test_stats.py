import itertools
import math
import random

import pytest

from poolbench.gates.stats import (
    _u_counts,
    bootstrap_median_diff,
    exact_p_value,
    mann_whitney_u,
    midranks,
    significance,
    smallest_p,
)


def _brute_force_p(first: list[float], second: list[float]) -> float:
    """Two-sided permutation p-value of U, enumerating every split of the pooled values."""
    pooled = [*first, *second]
    ranks = midranks(pooled)
    n1 = len(first)
    mean = n1 * len(second) / 2
    observed = abs(sum(ranks[:n1]) - n1 * (n1 + 1) / 2 - mean)
    splits = list(itertools.combinations(range(len(pooled)), n1))
    extreme = sum(
        1
        for chosen in splits
        if abs(sum(ranks[i] for i in chosen) - n1 * (n1 + 1) / 2 - mean) >= observed - 1e-9
    )
    return extreme / len(splits)


def test_midranks_share_ties() -> None:
    assert midranks([30.0, 10.0, 20.0, 20.0]) == [4.0, 1.0, 2.5, 2.5]
    assert midranks([5.0, 5.0, 5.0]) == [2.0, 2.0, 2.0]


def test_u_distribution_counts_every_arrangement() -> None:
    assert _u_counts(2, 2) == (1, 1, 2, 1, 1)
    for n1, n2 in [(1, 4), (3, 5), (6, 6), (7, 4)]:
        counts = _u_counts(n1, n2)
        assert sum(counts) == math.comb(n1 + n2, n1)
        assert counts == counts[::-1]  # symmetric about n1*n2/2


def test_complete_separation_gives_the_smallest_p() -> None:
    low = [1.0, 2.0, 3.0, 4.0]
    high = [10.0, 11.0, 12.0, 13.0]
    result = mann_whitney_u(high, low)
    assert result.method == "exact"
    assert result.u == 16
    assert result.p_value == pytest.approx(2 / 70)
    assert result.p_value == pytest.approx(smallest_p(4, 4))
    assert mann_whitney_u(low, high).u == 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_exact_p_matches_brute_force_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    n1, n2 = rng.randint(2, 6), rng.randint(2, 6)
    first = [rng.gauss(0, 1) for _ in range(n1)]
    second = [rng.gauss(0.7, 1) for _ in range(n2)]
    result = mann_whitney_u(first, second)
    assert result.method == "exact"
    assert result.p_value == pytest.approx(min(1.0, _brute_force_p(first, second)))


def test_normal_approximation_is_close_to_exact_for_larger_samples() -> None:
    rng = random.Random(11)
    first = [rng.gauss(0, 1) for _ in range(25)]
    second = [rng.gauss(0.5, 1) for _ in range(22)]
    result = mann_whitney_u(first, second)
    assert result.method == "normal"
    exact = exact_p_value(result.u, 25, 22)
    assert result.p_value == pytest.approx(exact, rel=0.1, abs=0.005)


def test_ties_use_the_corrected_normal_approximation() -> None:
    first = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0]
    second = [3.0, 4.0, 4.0, 5.0, 5.0, 6.0]
    result = mann_whitney_u(first, second)
    assert result.method == "normal"
    brute = _brute_force_p(first, second)
    assert result.p_value == pytest.approx(brute, rel=0.5)
    assert result.p_value < 0.05


def test_all_equal_values_show_no_difference() -> None:
    assert mann_whitney_u([2.0, 2.0, 2.0], [2.0, 2.0]).p_value == 1.0


def test_false_positive_rate_stays_near_alpha() -> None:
    rng = random.Random(2026)
    trials = 300
    hits = 0
    for _ in range(trials):
        a = [rng.gauss(100, 10) for _ in range(8)]
        b = [rng.gauss(100, 10) for _ in range(8)]
        hits += mann_whitney_u(a, b).p_value <= 0.05
    assert hits / trials < 0.09


def test_shift_is_detected_with_enough_repeats() -> None:
    rng = random.Random(7)
    baseline = [rng.gauss(100, 3) for _ in range(5)]
    slower = [rng.gauss(70, 3) for _ in range(5)]
    same = [rng.gauss(100, 3) for _ in range(5)]
    assert significance(baseline, slower, alpha=0.05, rng=random.Random(0)).significant
    verdict = significance(baseline, same, alpha=0.05, rng=random.Random(0))
    assert verdict.method.startswith("Mann-Whitney")
    assert verdict.p_value is not None
    assert not verdict.significant


def test_three_repeats_fall_back_to_the_bootstrap_and_say_so() -> None:
    assert smallest_p(3, 3) > 0.05
    disjoint = significance(
        [100.0, 101.0, 99.0], [70.0, 72.0, 69.0], alpha=0.05, rng=random.Random(1)
    )
    assert disjoint.method.startswith("bootstrap")
    assert disjoint.significant
    assert "too few" in disjoint.detail
    overlapping = significance(
        [100.0, 90.0, 110.0], [95.0, 105.0, 99.0], alpha=0.05, rng=random.Random(1)
    )
    assert not overlapping.significant


def test_bootstrap_is_deterministic_for_a_seed_and_brackets_the_estimate() -> None:
    baseline = [10.0, 12.0, 11.0, 13.0, 9.0]
    current = [15.0, 14.0, 16.0, 13.0, 17.0]
    one = bootstrap_median_diff(baseline, current, rng=random.Random(5), resamples=500)
    two = bootstrap_median_diff(baseline, current, rng=random.Random(5), resamples=500)
    assert one == two
    assert one.estimate == 4.0
    assert one.low <= one.estimate <= one.high
    assert one.excludes_zero


@pytest.mark.parametrize(
    ("baseline", "current"),
    [([], [1.0]), ([1.0], []), ([math.nan], [1.0])],
)
def test_invalid_samples_are_rejected(baseline: list[float], current: list[float]) -> None:
    with pytest.raises(ValueError, match=r"baseline|current"):
        bootstrap_median_diff(baseline, current, rng=random.Random(0))


def test_significance_needs_two_repeats_each() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        significance([1.0], [2.0, 3.0], alpha=0.05, rng=random.Random(0))
