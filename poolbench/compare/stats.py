"""The shift between two small samples: Hodges-Lehmann, its interval, Mann-Whitney U.

Pure: no I/O, clock or random state, no scipy.

- `hodges_lehmann`: the median of every pairwise difference b_j - a_i, an estimate of how
  far B sits from A that ignores a stray repeat (unlike the difference of means).
- `shift_interval`: the distribution-free confidence interval of that shift, the one that
  inverts the Mann-Whitney test: [D_(c), D_(mn+1-c)] of the sorted pairwise differences,
  c the largest count with P(U < c) <= alpha/2 under the null (exact for small samples,
  the normal approximation beyond `EXACT_MAX_N`). Its coverage is at least 1 - alpha;
  the exact level is returned too (5 against 5 at alpha 0.05 gives 96.8%).
- The U test itself is `poolbench.gates.stats.mann_whitney_u` (exact, or normal with tie
  and continuity corrections).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from poolbench.gates.stats import EXACT_MAX_N, _u_counts, mann_whitney_u

__all__ = [
    "EXACT_MAX_N",
    "ShiftEstimate",
    "critical_count",
    "hodges_lehmann",
    "mann_whitney_u",
    "pairwise_differences",
    "shift_interval",
]

_Z_TABLE_STEP: Final = 1e-10


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftEstimate:
    """B - A: the Hodges-Lehmann estimate, its interval, and the U test's p-value.

    `low`/`high` are None when the samples are too small for any interval at this alpha
    (2 against 2 can never exclude anything at 0.05). `confidence` is the interval's
    actual coverage (at least the nominal 1 - alpha).
    """

    estimate: float
    low: float | None
    high: float | None
    confidence: float
    p_value: float
    method: str  # "exact" or "normal"

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def pairwise_differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Every b_j - a_i, sorted."""
    return sorted(y - x for x in a for y in b)


def hodges_lehmann(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the pairwise differences b_j - a_i."""
    if not a or not b:
        raise ValueError("hodges_lehmann needs at least one value on each side")
    return statistics.median(pairwise_differences(a, b))


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on erfc (no scipy; p in (0, 1))."""
    lo, hi = -40.0, 40.0
    while hi - lo > _Z_TABLE_STEP:
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def critical_count(m: int, n: int, alpha: float) -> tuple[int, float, str]:
    """(c, coverage, method): the interval is [D_(c), D_(mn+1-c)]; c = 0 means none.

    Exact: c is the largest count with P(U <= c - 1) <= alpha / 2 under the null, and the
    coverage is 1 - 2 P(U <= c - 1). Normal: c = floor(mn/2 - z sqrt(mn(m+n+1)/12)).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if m < 1 or n < 1:
        raise ValueError("needs at least one value on each side")
    if max(m, n) <= EXACT_MAX_N:
        counts = _u_counts(m, n)
        total = sum(counts)
        cumulative = 0
        c = 0
        for k, count in enumerate(counts):
            if (cumulative + count) / total > alpha / 2:
                break
            cumulative += count
            c = k + 1
        c = min(c, (m * n) // 2)
        return c, 1 - 2 * cumulative / total if c else 0.0, "exact"
    z = _normal_quantile(1 - alpha / 2)
    c = math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))
    c = max(0, min(c, (m * n) // 2))
    return c, 1 - alpha if c else 0.0, "normal"


def shift_interval(a: Sequence[float], b: Sequence[float], *, alpha: float) -> ShiftEstimate:
    """Hodges-Lehmann B - A with its distribution-free (1 - alpha) interval and U's p."""
    if len(a) < 1 or len(b) < 1:
        raise ValueError("needs at least one value on each side")
    diffs = pairwise_differences(a, b)
    c, coverage, method = critical_count(len(a), len(b), alpha)
    test = mann_whitney_u(b, a)
    return ShiftEstimate(
        estimate=statistics.median(diffs),
        low=diffs[c - 1] if c else None,
        high=diffs[len(diffs) - c] if c else None,
        confidence=coverage,
        p_value=test.p_value,
        method=method,
    )
