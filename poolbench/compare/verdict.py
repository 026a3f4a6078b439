"""The verdict per point and metric: better, worse, or no detectable change. Pure.

A metric's repeats on each side are compared on a log scale, so the shift is a ratio:
the Hodges-Lehmann estimate of log(B) - log(A) and its distribution-free interval
(`poolbench.compare.stats`) become "B is +x% [lo%, hi%] against A".

- worse (slower, more): the interval lies wholly on the bad side of zero, and its far end
  reaches `min_effect` -- the change is real and not shown to be smaller than what matters;
- better (faster, less): the same on the good side;
- no detectable change: the interval holds zero, or the change is real but shown to be
  smaller than `min_effect` (the detail says which), or too few repeats for an interval.

Lost or duplicated emails, or a failed repeat, on either side are never "no change": they
are listed per side and always fail (`Outcome.passed`).
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from poolbench.compare.stats import ShiftEstimate, shift_interval
from poolbench.results import PointResult


class Verdict(enum.StrEnum):
    BETTER = "better"
    WORSE = "worse"
    NO_CHANGE = "no detectable change"


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """A figure of a point: how to read it, its unit, and which way is good."""

    name: str
    title: str
    unit: str
    higher_is_better: bool
    better_word: str
    worse_word: str
    read: Callable[[PointResult], float | None]


def _p99(value: object) -> float | None:
    return None if value is None else float(value.p99)  # type: ignore[attr-defined]


def _cpu_ms_per_email(point: PointResult) -> float | None:
    if point.cpu_percent is None or not point.throughput_per_s:
        return None
    return 10.0 * point.cpu_percent / point.throughput_per_s  # (cpu% / 100) * 1000 ms / rate


METRICS: Final[tuple[Metric, ...]] = (
    Metric(
        name="throughput",
        title="throughput",
        unit="emails/s",
        higher_is_better=True,
        better_word="faster",
        worse_word="slower",
        read=lambda p: p.throughput_per_s,
    ),
    Metric(
        name="p99",
        title="end-to-end p99",
        unit="ms",
        higher_is_better=False,
        better_word="faster",
        worse_word="slower",
        read=lambda p: _p99(p.latency_ms),
    ),
    Metric(
        name="service_p99",
        title="service p99",
        unit="ms",
        higher_is_better=False,
        better_word="faster",
        worse_word="slower",
        read=lambda p: _p99(p.service_ms),
    ),
    Metric(
        name="memory",
        title="peak memory",
        unit="MB",
        higher_is_better=False,
        better_word="less",
        worse_word="more",
        read=lambda p: None if p.memory_mb is None else p.memory_mb.peak,
    ),
    Metric(
        name="cpu_per_email",
        title="CPU per email",
        unit="ms",
        higher_is_better=False,
        better_word="less",
        worse_word="more",
        read=_cpu_ms_per_email,
    ),
)
METRIC_NAMES: Final = tuple(m.name for m in METRICS)
BY_NAME: Final = {m.name: m for m in METRICS}


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricVerdict:
    """One metric of one point: both sides' values, B's change against A, the verdict."""

    metric: Metric
    a: tuple[float, ...]
    b: tuple[float, ...]
    verdict: Verdict
    change: float | None  # B / A - 1 (Hodges-Lehmann on the log scale); None: no values
    low: float | None  # the interval of that change; None: too few repeats
    high: float | None
    confidence: float
    p_value: float | None
    detail: str

    @property
    def word(self) -> str:
        if self.verdict is Verdict.BETTER:
            return self.metric.better_word
        if self.verdict is Verdict.WORSE:
            return self.metric.worse_word
        return str(self.verdict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointVerdict:
    label: str
    params: Mapping[str, object]
    metrics: tuple[MetricVerdict, ...]
    problems: tuple[str, ...]  # loss, duplicates, failed repeats, on either side

    def by_metric(self, name: str) -> MetricVerdict:
        return next(m for m in self.metrics if m.metric.name == name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    points: tuple[PointVerdict, ...]
    alpha: float
    min_effect: float
    fail_on: tuple[str, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressions(self) -> list[tuple[PointVerdict, MetricVerdict]]:
        return [
            (p, m)
            for p in self.points
            for m in p.metrics
            if m.verdict is Verdict.WORSE and m.metric.name in self.fail_on
        ]

    @property
    def problems(self) -> list[str]:
        return [f"{p.label}: {text}" for p in self.points for text in p.problems]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.problems


def _percent(x: float) -> str:
    return f"{100 * x:+.1f}%"


def judge(
    metric: Metric,
    a: Sequence[float],
    b: Sequence[float],
    *,
    alpha: float,
    min_effect: float,
) -> MetricVerdict:
    """The verdict of B against A for one metric's repeats (positive values)."""
    if not 0 <= min_effect < 1:
        raise ValueError(f"min_effect must lie in [0, 1), got {min_effect}")
    a_t, b_t = tuple(a), tuple(b)
    usable = [x for x in (*a_t, *b_t) if x > 0 and math.isfinite(x)]
    if not a_t or not b_t or len(usable) < len(a_t) + len(b_t):
        return MetricVerdict(
            metric=metric,
            a=a_t,
            b=b_t,
            verdict=Verdict.NO_CHANGE,
            change=None,
            low=None,
            high=None,
            confidence=0.0,
            p_value=None,
            detail="not measured on every repeat of both sides",
        )
    shift = shift_interval([math.log(x) for x in a_t], [math.log(x) for x in b_t], alpha=alpha)
    return _from_shift(metric, a_t, b_t, shift, min_effect=min_effect)


def _from_shift(
    metric: Metric,
    a: tuple[float, ...],
    b: tuple[float, ...],
    shift: ShiftEstimate,
    *,
    min_effect: float,
) -> MetricVerdict:
    change = math.expm1(shift.estimate)
    low = None if shift.low is None else math.expm1(shift.low)
    high = None if shift.high is None else math.expm1(shift.high)
    verdict = Verdict.NO_CHANGE
    if low is None or high is None:
        detail = (
            f"{len(a)} against {len(b)} repeats are too few for an interval; no verdict possible"
        )
    else:
        interval = f"{shift.confidence:.1%} interval [{_percent(low)}, {_percent(high)}]"
        # Symmetric as ratios: the far end must reach a factor of 1 + min_effect either
        # way (a drop to 1 / 1.1 = -9.1% reaches a --min-effect of 10%).
        reach = math.log1p(min_effect)
        if low > 0 or high < 0:
            far = max(abs(math.log1p(low)), abs(math.log1p(high)))
            up = low > 0
            good = up == metric.higher_is_better
            if far + 1e-12 >= reach:
                verdict = Verdict.BETTER if good else Verdict.WORSE
                detail = f"{interval} excludes zero"
            else:
                detail = (
                    f"{interval}: a real change, but smaller than the "
                    f"--min-effect of {min_effect:.0%}"
                )
        else:
            detail = f"{interval} holds zero"
    return MetricVerdict(
        metric=metric,
        a=a,
        b=b,
        verdict=verdict,
        change=change,
        low=low,
        high=high,
        confidence=shift.confidence,
        p_value=shift.p_value,
        detail=detail,
    )


def _problems(side: str, points: Sequence[PointResult]) -> list[str]:
    out: list[str] = []
    for p in points:
        where = f"{side} repeat {p.repeat + 1}"
        if p.error:
            out.append(f"{where} failed: {p.error.splitlines()[0]}")
        if p.lost:
            out.append(f"{where} lost {p.lost} emails")
        if p.duplicates:
            out.append(f"{where} delivered {p.duplicates} duplicates")
    return out


def judge_point(
    label: str,
    a: Sequence[PointResult],
    b: Sequence[PointResult],
    *,
    alpha: float,
    min_effect: float,
) -> PointVerdict:
    """Every metric of one point, and the loss, duplicates and failures on either side."""
    metrics = []
    for metric in METRICS:
        a_values = [metric.read(p) for p in a]
        b_values = [metric.read(p) for p in b]
        metrics.append(
            judge(
                metric,
                [math.nan if v is None else v for v in a_values],
                [math.nan if v is None else v for v in b_values],
                alpha=alpha,
                min_effect=min_effect,
            )
        )
    params = dict(a[0].params) if a else (dict(b[0].params) if b else {})
    return PointVerdict(
        label=label,
        params=params,
        metrics=tuple(metrics),
        problems=tuple(_problems("A", a) + _problems("B", b)),
    )


def median_or_none(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else None
