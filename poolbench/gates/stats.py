"""Significance of a difference between two small samples (repeats of one point).

Pure and seeded: no I/O, no clock, no global random state, no scipy.

- `mann_whitney_u`: the two-sided Mann-Whitney U test. Exact (the null distribution of U
  counted by dynamic programming) for small samples without ties; otherwise the normal
  approximation with tie and continuity corrections.
- `bootstrap_median_diff`: a percentile bootstrap interval of median(current) -
  median(baseline), from an injected `random.Random`.
- `significance`: the test the gate uses. Mann-Whitney when the sample sizes can reach the
  significance level at all; with fewer repeats (3 against 3 can never give p < 0.1) it
  falls back to the bootstrap interval and says so in `method`.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

# Largest sample size for the exact U distribution; the table has n1*n2+1 entries per
# size pair, and beyond this the normal approximation is good (scipy uses a similar cut).
EXACT_MAX_N: Final = 20
DEFAULT_RESAMPLES: Final = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class MannWhitneyResult:
    """U of the first sample, the two-sided p-value, and how it was computed."""

    u: float
    p_value: float
    method: str  # "exact" or "normal"


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapInterval:
    """Percentile interval of median(current) - median(baseline)."""

    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Significance:
    """Whether two samples differ at level `alpha`, and the evidence in words."""

    significant: bool
    method: str
    p_value: float | None
    detail: str


def _check_sample(sample: Sequence[float], name: str) -> None:
    if len(sample) == 0:
        raise ValueError(f"{name}: needs at least one value")
    if any(math.isnan(x) for x in sample):
        raise ValueError(f"{name}: contains NaN")


def midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1  # positions i..j hold ranks i+1..j+1
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


@cache
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the C(n1+n2, n1) arrangements give each U = 0 .. n1*n2 (no ties).

    Recurrence on the largest value: it belongs to sample 1 (adding n2 to U) or to
    sample 2 (adding nothing).
    """
    if n1 == 0 or n2 == 0:
        return (1,)
    with_first = _u_counts(n1 - 1, n2)
    with_second = _u_counts(n1, n2 - 1)
    counts = [0] * (n1 * n2 + 1)
    for u, c in enumerate(with_first):
        counts[u + n2] += c
    for u, c in enumerate(with_second):
        counts[u] += c
    return tuple(counts)


def exact_p_value(u: float, n1: int, n2: int) -> float:
    counts = _u_counts(n1, n2)
    total = sum(counts)
    k = round(u)
    lower = sum(counts[: k + 1]) / total
    upper = sum(counts[k:]) / total
    return min(1.0, 2 * min(lower, upper))


def mann_whitney_u(first: Sequence[float], second: Sequence[float]) -> MannWhitneyResult:
    """Two-sided Mann-Whitney U test of `first` against `second`."""
    _check_sample(first, "first")
    _check_sample(second, "second")
    n1, n2 = len(first), len(second)
    ranks = midranks([*first, *second])
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    has_ties = len(set(first) | set(second)) < n1 + n2
    if not has_ties and max(n1, n2) <= EXACT_MAX_N:
        return MannWhitneyResult(u=u, p_value=exact_p_value(u, n1, n2), method="exact")
    n = n1 + n2
    tie_term = 0.0
    for count in _tie_sizes([*first, *second]):
        tie_term += count**3 - count
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value equal: no evidence of any difference
        return MannWhitneyResult(u=u, p_value=1.0, method="normal")
    mean = n1 * n2 / 2
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)  # continuity correction
    p = math.erfc(max(z, 0.0) / math.sqrt(2))
    return MannWhitneyResult(u=u, p_value=min(1.0, p), method="normal")


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [c for c in counts.values() if c > 1]


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value Mann-Whitney can give for these sizes (no ties)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def bootstrap_median_diff(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    rng: random.Random,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
) -> BootstrapInterval:
    """Percentile bootstrap interval of median(current) - median(baseline)."""
    _check_sample(baseline, "baseline")
    _check_sample(current, "current")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    diffs = sorted(
        statistics.median(rng.choices(current, k=len(current)))
        - statistics.median(rng.choices(baseline, k=len(baseline)))
        for _ in range(resamples)
    )
    tail = (1 - confidence) / 2
    low = diffs[min(resamples - 1, max(0, math.floor(tail * resamples)))]
    high = diffs[min(resamples - 1, max(0, math.ceil((1 - tail) * resamples) - 1))]
    return BootstrapInterval(
        estimate=statistics.median(current) - statistics.median(baseline),
        low=low,
        high=high,
        confidence=confidence,
        resamples=resamples,
    )


def significance(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    alpha: float,
    rng: random.Random,
    resamples: int = DEFAULT_RESAMPLES,
) -> Significance:
    """Do `baseline` and `current` differ at level `alpha`? Needs 2+ values on each side."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if len(baseline) < 2 or len(current) < 2:
        raise ValueError("a significance test needs at least 2 repeats on each side")
    n1, n2 = len(baseline), len(current)
    if smallest_p(n1, n2) <= alpha:
        test = mann_whitney_u(current, baseline)
        return Significance(
            significant=test.p_value <= alpha,
            method=f"Mann-Whitney U ({test.method})",
            p_value=test.p_value,
            detail=f"p={test.p_value:.3g}, alpha={alpha:g}",
        )
    interval = bootstrap_median_diff(
        baseline, current, rng=rng, confidence=1 - alpha, resamples=resamples
    )
    return Significance(
        significant=interval.excludes_zero,
        method="bootstrap CI of the median difference",
        p_value=None,
        detail=(
            f"{interval.confidence:.0%} CI [{interval.low:.4g}, {interval.high:.4g}]; "
            f"{n1} vs {n2} repeats are too few for Mann-Whitney at alpha={alpha:g}"
        ),
    )
