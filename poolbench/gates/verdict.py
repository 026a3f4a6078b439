"""The one regression verdict of `gate --baseline` and `compare`, per point and metric. Pure.

A metric's repeats on each side (A, the baseline; B, the current run or candidate) are
compared on a log scale, so the shift is a ratio: the Hodges-Lehmann estimate of
log(B) - log(A) with its exact distribution-free interval (`poolbench.gates.stats`)
becomes "B is +x% [lo%, hi%] against A". `min_effect` is the smallest change that
matters (the gate's `--max-throughput-drop` and the like, compare's `--min-effect`):

- **within**: the interval lies inside +-min_effect: no change larger than that (a real
  but smaller change included; the detail says so);
- **worse** / **better**: otherwise, when the interval excludes zero: a change, on the bad
  or the good side, not shown to be smaller than min_effect;
- **inconclusive**: the interval holds zero and is wider than +-min_effect: this much
  noise could hide a change that matters.

Each verdict carries what it could see (`resolution`: the interval's half-width, the
smallest change its own spread could show). With too few repeats for any interval
(`poolbench.gates.stats.reachable`) the verdict is inconclusive, or, when the caller asks
(the baseline gate), the Hodges-Lehmann change alone is held to min_effect and the detail
says that no significance was possible. A metric
B (the current run) did not measure while A did is worse: "n/a" never passes.

The metric names are results.json's (`PointResult.metrics()`); compare's older names
(`p99`, `memory`, ...) are accepted as aliases (`metric_named`).
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from poolbench.gates.stats import hodges_lehmann, min_repeats, reachable, shift_interval
from poolbench.results import PointResult


class Verdict(enum.StrEnum):
    BETTER = "better"
    WORSE = "worse"
    WITHIN = "within"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A figure of a point: its results.json name, how to read it, which way is good."""

    name: str
    title: str
    unit: str
    higher_is_better: bool
    better_word: str
    worse_word: str
    read: Callable[[PointResult], float]  # NaN when not measured


def _field(name: str) -> Callable[[PointResult], float]:
    return lambda point: point.metrics()[name]


METRICS: Final[tuple[Metric, ...]] = (
    Metric(
        name="throughput",
        title="throughput",
        unit="emails/s",
        higher_is_better=True,
        better_word="faster",
        worse_word="slower",
        read=_field("throughput"),
    ),
    Metric(
        name="p99_ms",
        title="end-to-end p99",
        unit="ms",
        higher_is_better=False,
        better_word="faster",
        worse_word="slower",
        read=_field("p99_ms"),
    ),
    Metric(
        name="service_p99_ms",
        title="service p99",
        unit="ms",
        higher_is_better=False,
        better_word="faster",
        worse_word="slower",
        read=_field("service_p99_ms"),
    ),
    Metric(
        name="memory_peak_mb",
        title="peak memory",
        unit="MB",
        higher_is_better=False,
        better_word="less",
        worse_word="more",
        read=_field("memory_peak_mb"),
    ),
    Metric(
        name="cpu_us_per_email",
        title="CPU per email",
        unit="us",
        higher_is_better=False,
        better_word="less",
        worse_word="more",
        read=_field("cpu_us_per_email"),
    ),
)
METRIC_NAMES: Final = tuple(m.name for m in METRICS)
BY_NAME: Final = {m.name: m for m in METRICS}
# compare's names before one vocabulary: still accepted by `--fail-on`.
ALIASES: Final = {
    "p99": "p99_ms",
    "service_p99": "service_p99_ms",
    "memory": "memory_peak_mb",
    "cpu_per_email": "cpu_us_per_email",
}


def metric_named(name: str) -> Metric | None:
    """The metric called `name` (or an older alias of it); None when there is none."""
    return BY_NAME.get(ALIASES.get(name, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricVerdict:
    """One metric of one point: both sides' values, B's change against A, the verdict."""

    metric: Metric
    a: tuple[float, ...]
    b: tuple[float, ...]
    min_effect: float  # a fraction: 0.1 is +-10%
    verdict: Verdict
    change: float | None  # B / A - 1 (Hodges-Lehmann on the log scale); None: no values
    low: float | None  # the interval of that change; None: no interval possible
    high: float | None
    confidence: float
    p_value: float | None
    tested: bool  # False: too few repeats (or values) for any test
    detail: str

    @property
    def word(self) -> str:
        if self.verdict is Verdict.BETTER:
            return self.metric.better_word
        if self.verdict is Verdict.WORSE:
            return self.metric.worse_word
        if self.verdict is Verdict.WITHIN:
            return f"no change beyond +-{_pct(self.min_effect)}"
        return "inconclusive"

    @property
    def resolution(self) -> float | None:
        """The smallest change this compare could show: the interval's half-width (as a
        ratio), from its own spread; None without an interval."""
        if self.low is None or self.high is None:
            return None
        return math.expm1((math.log1p(self.high) - math.log1p(self.low)) / 2)

    @property
    def a_median(self) -> float | None:
        return _median(self.a)

    @property
    def b_median(self) -> float | None:
        return _median(self.b)


def _median(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else None


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _signed(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _measured(values: Sequence[float]) -> bool:
    return bool(values) and all(math.isfinite(v) and v > 0 for v in values)


def _usable(values: Sequence[float]) -> list[float]:
    """The logs of the values that were measured."""
    return [math.log(v) for v in values if math.isfinite(v) and v > 0]


def judge(
    metric: Metric,
    a: Sequence[float],
    b: Sequence[float],
    *,
    alpha: float,
    min_effect: float,
    thresholds_alone: bool = False,
) -> MetricVerdict:
    """The verdict of B against A for one metric's repeats.

    `thresholds_alone`: with too few repeats for a test, hold the Hodges-Lehmann change to
    `min_effect` (the baseline gate) instead of calling it inconclusive.
    """
    if not min_effect >= 0:
        raise ValueError(f"min_effect must not be negative, got {min_effect}")
    a_t, b_t = tuple(a), tuple(b)

    def made(verdict: Verdict, detail: str, **figures: float | None) -> MetricVerdict:
        low, high = figures.get("low"), figures.get("high")
        return MetricVerdict(
            metric=metric,
            a=a_t,
            b=b_t,
            min_effect=min_effect,
            verdict=verdict,
            change=figures.get("change"),
            low=low,
            high=high,
            confidence=figures.get("confidence") or 0.0,
            p_value=figures.get("p_value"),
            tested=low is not None,
            detail=detail,
        )

    if not _measured(a_t) or not _measured(b_t):
        # The change over the repeats that did measure, shown but never judged.
        a_ok, b_ok = _usable(a_t), _usable(b_t)
        partial = math.expm1(hodges_lehmann(a_ok, b_ok)) if a_ok and b_ok else None
        if _measured(a_t):
            return made(
                Verdict.WORSE,
                "n/a: not measured on every repeat of B (the current run)",
                change=partial,
            )
        return made(
            Verdict.INCONCLUSIVE, "n/a: not measured on every repeat of both sides", change=partial
        )
    logs_a, logs_b = [math.log(x) for x in a_t], [math.log(x) for x in b_t]
    if not reachable(len(a_t), len(b_t), alpha):
        why = (
            f"{len(a_t)} against {len(b_t)} repeats can never reach alpha {alpha:g} "
            f"(needs at least {min_repeats(alpha)} per side): no significance was possible"
        )
        change = math.expm1(hodges_lehmann(logs_a, logs_b))
        if not thresholds_alone:
            return made(Verdict.INCONCLUSIVE, why, change=change)
        if abs(change) <= min_effect:
            verdict, where = Verdict.WITHIN, "within"
        else:
            bad = (change < 0) == metric.higher_is_better
            verdict, where = (Verdict.WORSE if bad else Verdict.BETTER), "beyond"
        text = f"B {_signed(change)}, {where} +-{_pct(min_effect)} by the thresholds alone"
        return made(verdict, f"{text}; {why}", change=change)
    shift = shift_interval(logs_a, logs_b, alpha=alpha)
    assert shift.low is not None and shift.high is not None  # reachable: an interval exists
    change, low, high = math.expm1(shift.estimate), math.expm1(shift.low), math.expm1(shift.high)
    interval = f"{shift.confidence:.1%} interval [{_signed(low)}, {_signed(high)}]"
    if -min_effect <= low and high <= min_effect:
        verdict = Verdict.WITHIN
        real = " (a real change, smaller than that)" if shift.excludes_zero else ""
        detail = f"{interval} lies inside +-{_pct(min_effect)}{real}"
    elif shift.excludes_zero:
        bad = (high < 0) == metric.higher_is_better
        verdict = Verdict.WORSE if bad else Verdict.BETTER
        detail = f"{interval} excludes zero and reaches beyond +-{_pct(min_effect)}"
    else:
        verdict = Verdict.INCONCLUSIVE
        detail = (
            f"{interval} holds zero but is wider than +-{_pct(min_effect)}: "
            "more repeats or a quieter machine needed"
        )
    return made(
        verdict,
        detail,
        change=change,
        low=low,
        high=high,
        confidence=shift.confidence,
        p_value=shift.p_value,
    )


def too_busy(
    verdicts: Sequence[MetricVerdict], *, saturated: int, runs: int, names: Sequence[str]
) -> str | None:
    """A note when runs had a saturated machine and a metric in `names` could not see
    its min_effect: the interval's half-width exceeds it, so "within" was out of reach."""
    if not saturated:
        return None
    blind = [
        v
        for v in verdicts
        if v.metric.name in names and v.resolution is not None and v.resolution > v.min_effect
    ]
    if not blind:
        return None
    worst = max(blind, key=lambda v: v.resolution or 0.0)
    return (
        f"the machine was too busy for the effect asked: {saturated} of {runs} runs had a "
        f"saturated machine or harness, and {worst.metric.title} could only see changes of "
        f"+-{_pct(worst.resolution or 0.0)} (min effect +-{_pct(worst.min_effect)})"
    )
