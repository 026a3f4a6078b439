"""The statistics of every regression verdict: exact Mann-Whitney U and Hodges-Lehmann.

Pure: no I/O, clock or random state, no scipy. Exact at every sample size (no normal
approximation, no bootstrap): the null distribution of U is counted, not approximated.

- `mann_whitney`: the two-sided Mann-Whitney U test of B against A, its p-value from the
  exact permutation distribution of the rank sum (midranks when values tie);
- `hodges_lehmann`: the median of every pairwise difference b_j - a_i, an estimate of how
  far B sits from A that ignores a stray repeat;
- `shift_interval`: that estimate with its exact distribution-free confidence interval,
  the one that inverts the U test: [D_(c), D_(mn+1-c)] of the sorted pairwise
  differences, c the largest count with P(U <= c - 1) <= alpha / 2 under the null; its
  coverage (returned) is at least 1 - alpha (5 against 5 at alpha 0.05: 96.8%);
- `reachable` / `min_repeats`: whether m against n repeats can ever give p <= alpha (the
  smallest two-sided p is 2 / C(m + n, m)): 3 against 3 cannot at 0.05, 4 against 4 can.
  Below that no interval exists and no test can say anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache


@dataclass(frozen=True, slots=True, kw_only=True)
class MannWhitney:
    """U of B over A (pairs with b > a, ties counting half) and its exact two-sided p."""

    u: float
    p_value: float
    ties: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Significance:
    """Whether B differs from A at level `alpha`, and the evidence in words."""

    significant: bool
    reachable: bool  # False: these sample sizes can never reach alpha
    p_value: float
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Shift:
    """B - A: the Hodges-Lehmann estimate, its interval, and the U test's p-value.

    `low`/`high` are None when the samples can never reach alpha (2 against 2 at 0.05):
    then no interval exists. `confidence` is the interval's exact coverage.
    """

    estimate: float
    low: float | None
    high: float | None
    confidence: float
    p_value: float

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def _check(sample: Sequence[float], name: str) -> None:
    if len(sample) == 0:
        raise ValueError(f"{name}: needs at least one value")
    if any(math.isnan(x) for x in sample):
        raise ValueError(f"{name}: contains NaN")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # positions i..j hold ranks i+1..j+1
        i = j + 1
    return ranks


@cache
def u_null_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) arrangements (no ties) give each U = 0 .. m*n.

    Recurrence on the largest value: it belongs to the n-sample (adding m to U, the U of
    that sample) or to the m-sample (adding nothing).
    """
    if m == 0 or n == 0:
        return (1,)
    with_last_in_n = u_null_counts(m, n - 1)
    with_last_in_m = u_null_counts(m - 1, n)
    counts = [0] * (m * n + 1)
    for u, c in enumerate(with_last_in_n):
        counts[u + m] += c
    for u, c in enumerate(with_last_in_m):
        counts[u] += c
    return tuple(counts)


@cache
def _rank_sum_counts(doubled_ranks: tuple[int, ...], k: int) -> dict[int, int]:
    """How many k-subsets of the pooled (doubled, so integer) midranks have each sum."""
    table: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(k)]
    for rank in doubled_ranks:
        for size in range(k, 0, -1):
            row = table[size]
            for total, count in table[size - 1].items():
                row[total + rank] = row.get(total + rank, 0) + count
    return table[k]


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """The two-sided Mann-Whitney U test of `b` against `a`, exact at every size.

    p = P(|W - E W| >= |w - E W|) over every equally likely split of the pooled values,
    W the rank sum of `b`: with ties, the permutation distribution of the midranks.
    """
    _check(a, "a")
    _check(b, "b")
    m, n = len(a), len(b)
    ranks = midranks([*a, *b])
    doubled = [round(2 * r) for r in ranks]
    w2 = sum(doubled[m:])  # twice the rank sum of b
    u = w2 / 2 - n * (n + 1) / 2
    ties = len(set(a) | set(b)) < m + n
    centre2 = n * (m + n + 1)  # twice E W
    if ties:
        counts = _rank_sum_counts(tuple(sorted(doubled)), n)
    else:  # the classic table, indexed by 2 W = 2 U + n (n + 1)
        counts = {2 * k + n * (n + 1): c for k, c in enumerate(u_null_counts(m, n))}
    observed = abs(w2 - centre2)
    extreme = sum(c for total, c in counts.items() if abs(total - centre2) >= observed)
    p = Fraction(extreme, math.comb(m + n, n))
    return MannWhitney(u=u, p_value=min(1.0, float(p)), ties=ties)


def smallest_p(m: int, n: int) -> float:
    """The smallest two-sided p-value Mann-Whitney can give for these sizes."""
    if m == 0 or n == 0:
        return 1.0
    return min(1.0, 2 / math.comb(m + n, m))


def reachable(m: int, n: int, alpha: float) -> bool:
    """Can m against n repeats ever be significant at `alpha` (and have an interval)?"""
    _check_alpha(alpha)
    return m > 0 and n > 0 and smallest_p(m, n) <= alpha


def min_repeats(alpha: float) -> int:
    """The fewest repeats per side (the same on both) that can ever reach `alpha`."""
    _check_alpha(alpha)
    n = 1
    while not reachable(n, n, alpha):
        n += 1
    return n


def significance(a: Sequence[float], b: Sequence[float], *, alpha: float) -> Significance:
    """Does `b` differ from `a` at level `alpha`? Never, when the sizes cannot reach it."""
    _check_alpha(alpha)
    test = mann_whitney(a, b)
    m, n = len(a), len(b)
    if not reachable(m, n, alpha):
        return Significance(
            significant=False,
            reachable=False,
            p_value=test.p_value,
            detail=(
                f"{m} against {n} repeats can never reach alpha {alpha:g} (smallest p "
                f"{smallest_p(m, n):.3g}); needs at least {min_repeats(alpha)} per side"
            ),
        )
    return Significance(
        significant=test.p_value <= alpha,
        reachable=True,
        p_value=test.p_value,
        detail=f"Mann-Whitney U exact p={test.p_value:.3g}, alpha={alpha:g}",
    )


def pairwise_differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Every b_j - a_i, sorted."""
    return sorted(y - x for x in a for y in b)


def hodges_lehmann(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the pairwise differences b_j - a_i."""
    _check(a, "a")
    _check(b, "b")
    return statistics.median(pairwise_differences(a, b))


def critical_count(m: int, n: int, alpha: float) -> tuple[int, float]:
    """(c, coverage): the interval is [D_(c), D_(mn+1-c)]; c = 0 means none exists.

    c is the largest count with P(U <= c - 1) <= alpha / 2 under the null (capped at
    mn / 2); the coverage is 1 - 2 P(U <= c - 1), exact for continuous values.
    """
    _check_alpha(alpha)
    if m < 1 or n < 1:
        raise ValueError("needs at least one value on each side")
    counts = u_null_counts(m, n)
    total = math.comb(m + n, m)
    cumulative = 0
    c = 0
    for k, count in enumerate(counts):
        if c >= (m * n) // 2 or Fraction(cumulative + count, total) > Fraction(alpha) / 2:
            break
        cumulative += count
        c = k + 1
    return c, (float(1 - Fraction(2 * cumulative, total)) if c else 0.0)


def shift_interval(a: Sequence[float], b: Sequence[float], *, alpha: float) -> Shift:
    """Hodges-Lehmann B - A with its exact distribution-free (1 - alpha) interval and p."""
    _check(a, "a")
    _check(b, "b")
    diffs = pairwise_differences(a, b)
    c, coverage = critical_count(len(a), len(b), alpha)
    return Shift(
        estimate=statistics.median(diffs),
        low=diffs[c - 1] if c else None,
        high=diffs[len(diffs) - c] if c else None,
        confidence=coverage,
        p_value=mann_whitney(a, b).p_value,
    )
