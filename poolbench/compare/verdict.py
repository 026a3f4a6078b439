"""The verdicts of a compare: every point's metrics, and what fails it. Pure.

Each metric of a point is judged by the one regression engine
(`poolbench.gates.verdict.judge`: better, worse, within +-min-effect, or inconclusive).
Lost or duplicated emails, or a failed repeat, on either side are never "no change": they
are listed per side and always fail (`Outcome.passed`). A "worse" verdict of a metric in
`fail_on` fails; an inconclusive one too with `fail_on_inconclusive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from poolbench.gates.verdict import METRICS, MetricVerdict, Verdict, judge
from poolbench.results import PointResult


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
    fail_on_inconclusive: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def _with(self, verdict: Verdict) -> list[tuple[PointVerdict, MetricVerdict]]:
        return [
            (p, m)
            for p in self.points
            for m in p.metrics
            if m.verdict is verdict and m.metric.name in self.fail_on
        ]

    @property
    def regressions(self) -> list[tuple[PointVerdict, MetricVerdict]]:
        return self._with(Verdict.WORSE)

    @property
    def inconclusive(self) -> list[tuple[PointVerdict, MetricVerdict]]:
        """Metrics in `fail_on` whose verdict is inconclusive."""
        return self._with(Verdict.INCONCLUSIVE)

    @property
    def problems(self) -> list[str]:
        return [f"{p.label}: {text}" for p in self.points for text in p.problems]

    def fails(self, m: MetricVerdict) -> bool:
        """Does this metric's verdict fail the compare?"""
        if m.metric.name not in self.fail_on:
            return False
        return m.verdict is Verdict.WORSE or (
            self.fail_on_inconclusive and m.verdict is Verdict.INCONCLUSIVE
        )

    @property
    def passed(self) -> bool:
        failing = any(self.fails(m) for p in self.points for m in p.metrics)
        return not failing and not self.problems


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
    metrics = [
        judge(
            metric,
            [metric.read(p) for p in a],
            [metric.read(p) for p in b],
            alpha=alpha,
            min_effect=min_effect,
        )
        for metric in METRICS
    ]
    params = dict(a[0].params) if a else (dict(b[0].params) if b else {})
    return PointVerdict(
        label=label,
        params=params,
        metrics=tuple(metrics),
        problems=tuple(_problems("A", a) + _problems("B", b)),
    )
