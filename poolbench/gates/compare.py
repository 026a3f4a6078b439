"""Baseline comparison: a current ResultSet against a stored baseline, point by point.

Pure. Points are matched by their params (the swept values). Per matched point and
metric (throughput, p99 latency, peak memory) the medians over repeats are compared:

- within the threshold: pass;
- beyond it in the bad direction: a regression if a significance test over the repeats
  agrees (`poolbench.gates.stats.significance`), otherwise noise; with a single repeat on
  either side there is no test, the threshold alone decides, and the result says so;
- beyond it in the good direction: an improvement (same rule), otherwise noise.

Lost and duplicated emails beyond the baseline's (the worst repeat on each side) are
always a regression, whatever the thresholds. Inputs that cannot be compared honestly
(other schema, other scenario, other environment, nothing in common) raise
`GateInputError` unless the caller allows the scenario or environment change.

Why one module of ~420 lines: the rules above are applied in `_compare_metric` and
`_compare_count` and carried by the records they return (`MetricComparison` up to
`Comparison`), so a rule, its verdict and the record a report reads change together.
"""

from __future__ import annotations

import enum
import math
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from poolbench import units
from poolbench.errors import GateInputError
from poolbench.gates.absolute import describe_params
from poolbench.gates.stats import significance
from poolbench.results import ParamValue, PointResult, ResultSet, comparable_versions

THRESHOLD_ONLY: Final = "threshold only (1 repeat, no test)"
ALWAYS: Final = "no threshold: any excess fails"


class Verdict(enum.StrEnum):
    PASS = "pass"
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NOISE = "noise"


_THRESHOLD_WORDS: Final = {
    "max_throughput_drop_pct": "max throughput drop",
    "max_p99_rise_pct": "max p99 rise",
    "max_memory_rise_pct": "max memory rise",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Allowed relative changes, in percent, and the significance level."""

    max_throughput_drop_pct: float = 10.0
    max_p99_rise_pct: float = 25.0
    max_memory_rise_pct: float = 20.0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        # The words of the gate's flags, never the field names.
        for name, words in _THRESHOLD_WORDS.items():
            value = getattr(self, name)
            if not value >= 0:
                raise GateInputError(f"{words}: must not be negative, got {value:g}%")
        if self.max_throughput_drop_pct >= 100:
            raise GateInputError(
                f"max throughput drop: must be below 100%, got {self.max_throughput_drop_pct:g}%"
            )
        if not 0 < self.alpha < 1:
            raise GateInputError(f"alpha: must lie between 0 and 1, got {self.alpha}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Metric:
    name: str
    label: str
    unit: str
    higher_is_better: bool
    value: Callable[[PointResult], float]
    limit: Callable[[Thresholds], float]


_METRICS: Final = (
    _Metric(
        name="throughput",
        label="throughput",
        unit="/s",
        higher_is_better=True,
        value=lambda p: p.metrics()["throughput"],
        limit=lambda t: t.max_throughput_drop_pct,
    ),
    _Metric(
        name="p99_ms",
        label="p99 latency",
        unit=" ms",
        higher_is_better=False,
        value=lambda p: p.metrics()["p99_ms"],
        limit=lambda t: t.max_p99_rise_pct,
    ),
    _Metric(
        name="memory_peak_mb",
        label="memory peak",
        unit=" MB",
        higher_is_better=False,
        value=lambda p: p.metrics()["memory_peak_mb"],
        limit=lambda t: t.max_memory_rise_pct,
    ),
)
_COUNTS: Final = (
    ("lost", "lost emails", lambda p: p.lost),
    ("duplicates", "duplicates", lambda p: p.duplicates),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricComparison:
    """One metric of one point: medians over repeats, change and verdict with its reason."""

    metric: str
    label: str
    unit: str
    baseline: float
    current: float
    change_pct: float | None
    limit_pct: float | None  # None for counts, which allow nothing beyond the baseline
    verdict: Verdict
    method: str
    reason: str

    def baseline_text(self) -> str:
        return _format(self.baseline, self.unit)

    def current_text(self) -> str:
        return _format(self.current, self.unit)

    def change_text(self) -> str:
        if self.change_pct is None:
            delta = self.current - self.baseline
            return f"{delta:+g}" if self.limit_pct is None else "n/a"
        return f"{self.change_pct:+.1f}%"


def _format(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"  # not measured: never shown as a number
    if unit == "":
        return f"{value:g}"
    return f"{value:.1f}{unit}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PointComparison:
    """Every metric of one matched point."""

    params: Mapping[str, ParamValue]
    baseline_repeats: int
    current_repeats: int
    metrics: tuple[MetricComparison, ...]

    @property
    def label(self) -> str:
        return describe_params(self.params)

    @property
    def verdict(self) -> Verdict:
        verdicts = {m.verdict for m in self.metrics}
        for worst in (Verdict.REGRESSION, Verdict.NOISE, Verdict.IMPROVEMENT):
            if worst in verdicts:
                return worst
        return Verdict.PASS


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """The whole gate: matched points, unmatched ones, and notes a reader must see."""

    scenario_name: str
    thresholds: Thresholds
    baseline_commit: str | None
    current_commit: str | None
    points: tuple[PointComparison, ...]
    only_in_baseline: tuple[str, ...] = ()
    only_in_current: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[tuple[PointComparison, MetricComparison], ...]:
        return tuple(
            (p, m) for p in self.points for m in p.metrics if m.verdict is Verdict.REGRESSION
        )

    @property
    def passed(self) -> bool:
        return not self.regressions


def _group(points: Sequence[PointResult]) -> dict[str, list[PointResult]]:
    groups: dict[str, list[PointResult]] = {}
    for point in points:
        groups.setdefault(point.params_key, []).append(point)
    return groups


def _check_comparable(
    baseline: ResultSet,
    current: ResultSet,
    *,
    allow_scenario_change: bool,
    allow_env_change: bool,
) -> list[str]:
    notes: list[str] = []
    if not comparable_versions(baseline.schema_version, current.schema_version):
        raise GateInputError(
            f"schema version differs: baseline {baseline.schema_version}, "
            f"current {current.schema_version}; save a new baseline"
        )
    if baseline.scenario_hash != current.scenario_hash:
        text = (
            f"the scenario changed (hash {baseline.scenario_hash[:12]} in the baseline, "
            f"{current.scenario_hash[:12]} now)"
        )
        if not allow_scenario_change:
            raise GateInputError(f"{text}; save a new baseline, or pass --allow-scenario-change")
        notes.append(f"{text}; compared anyway (--allow-scenario-change)")
    differences = baseline.environment.differences(current.environment)
    if differences:
        text = "the environment differs from the baseline's: " + "; ".join(differences)
        if not allow_env_change:
            raise GateInputError(
                f"{text}. Numbers from different machines or library versions are not "
                "comparable; save a baseline here, or pass --allow-env-change"
            )
        notes.append(f"{text}; compared anyway (--allow-env-change)")
    return notes


def compare(
    baseline: ResultSet,
    current: ResultSet,
    *,
    thresholds: Thresholds | None = None,
    allow_scenario_change: bool = False,
    allow_env_change: bool = False,
    seed: int = 0,
) -> Comparison:
    """Compare `current` with `baseline`; `GateInputError` when they cannot be compared."""
    limits = thresholds if thresholds is not None else Thresholds()
    notes = _check_comparable(
        baseline,
        current,
        allow_scenario_change=allow_scenario_change,
        allow_env_change=allow_env_change,
    )
    base_groups = _group(baseline.points)
    cur_groups = _group(current.points)
    matched = [key for key in base_groups if key in cur_groups]
    if not matched:
        raise GateInputError(
            "no point of the current results matches a baseline point by params "
            f"(baseline: {_labels(base_groups)}; current: {_labels(cur_groups)})"
        )
    compared = tuple(
        _compare_point(base_groups[key], cur_groups[key], limits, seed=seed) for key in matched
    )
    if any(p.baseline_repeats < 2 or p.current_repeats < 2 for p in compared):
        notes.append(
            "a single repeat on at least one side: those verdicts rest on the thresholds "
            "alone, without a significance test (use `repeats:` >= 2, ideally 4 or more)"
        )
    notes.extend(_run_warnings(cur_groups[key] for key in matched))
    return Comparison(
        scenario_name=current.scenario_name,
        thresholds=limits,
        baseline_commit=baseline.environment.git_commit,
        current_commit=current.environment.git_commit,
        points=compared,
        only_in_baseline=tuple(
            describe_params(g[0].params) for k, g in base_groups.items() if k not in cur_groups
        ),
        only_in_current=tuple(
            describe_params(g[0].params) for k, g in cur_groups.items() if k not in base_groups
        ),
        notes=tuple(notes),
    )


# At most this many of a point's run warnings are repeated in the gate's notes.
_WARNINGS_PER_POINT: Final = 3


def _run_warnings(groups: Iterable[list[PointResult]]) -> list[str]:
    """The current run's own warnings (e.g. a saturated sink): a change at such a point
    may measure the harness rather than the consumer, and the reader must see that."""
    notes: list[str] = []
    for group in groups:
        seen = list(dict.fromkeys(w for p in group for w in p.warnings))
        for warning in seen[:_WARNINGS_PER_POINT]:
            notes.append(f"current run warned at {describe_params(group[0].params)}: {warning}")
        if len(seen) > _WARNINGS_PER_POINT:
            notes.append(f"... and {len(seen) - _WARNINGS_PER_POINT} more warning(s) there")
    return notes


def _labels(groups: Mapping[str, list[PointResult]]) -> str:
    return ", ".join(describe_params(g[0].params) for g in groups.values()) or "no points"


def _compare_point(
    base: list[PointResult], cur: list[PointResult], limits: Thresholds, *, seed: int
) -> PointComparison:
    metrics = [_compare_metric(m, base, cur, limits, seed=seed) for m in _METRICS]
    metrics.extend(_compare_count(name, label, value, base, cur) for name, label, value in _COUNTS)
    return PointComparison(
        params=base[0].params,
        baseline_repeats=len(base),
        current_repeats=len(cur),
        metrics=tuple(metrics),
    )


def _compare_metric(
    metric: _Metric,
    base: list[PointResult],
    cur: list[PointResult],
    limits: Thresholds,
    *,
    seed: int,
) -> MetricComparison:
    base_values = [metric.value(p) for p in base]
    cur_values = [metric.value(p) for p in cur]
    base_mid = statistics.median(base_values)
    cur_mid = statistics.median(cur_values)
    limit = metric.limit(limits)

    def result(
        verdict: Verdict, reason: str, change: float | None, method: str
    ) -> MetricComparison:
        return MetricComparison(
            metric=metric.name,
            label=metric.label,
            unit=metric.unit,
            baseline=base_mid,
            current=cur_mid,
            change_pct=change,
            limit_pct=limit,
            verdict=verdict,
            method=method,
            reason=reason,
        )

    # NaN: a point that measured nothing (its error is in its warnings). Not measured now
    # is a regression; not measured in the baseline leaves nothing to compare with.
    if any(math.isnan(v) for v in cur_values):
        return result(Verdict.REGRESSION, "not measured in the current run", None, "none")
    if any(math.isnan(v) for v in base_values):
        return result(
            Verdict.PASS, "not measured in the baseline: nothing to compare", None, "none"
        )
    if base_mid == 0:
        return result(Verdict.PASS, "baseline is 0: no relative change", None, "none")
    change = (cur_mid - base_mid) / base_mid * 100
    worse = -change if metric.higher_is_better else change
    direction = "drop" if metric.higher_is_better else "rise"
    if abs(change) <= limit:
        return result(Verdict.PASS, f"within {limit:g}%", change, "-")
    if len(base) < 2 or len(cur) < 2:
        agrees, method = True, THRESHOLD_ONLY
    else:
        # Derived per point and metric, so a verdict does not depend on the others.
        rng = random.Random(f"{seed}:{base[0].params_key}:{metric.name}")
        test = significance(base_values, cur_values, alpha=limits.alpha, rng=rng)
        agrees, method = test.significant, f"{test.method}: {test.detail}"
    if worse > 0:
        if agrees:
            return result(Verdict.REGRESSION, f"{direction} beyond {limit:g}%", change, method)
        return result(
            Verdict.NOISE,
            f"{direction} beyond {limit:g}%, not significant",
            change,
            method,
        )
    if agrees:
        return result(Verdict.IMPROVEMENT, f"better by over {limit:g}%", change, method)
    return result(Verdict.NOISE, f"better by over {limit:g}%, not significant", change, method)


def _compare_count(
    name: str,
    label: str,
    value: Callable[[PointResult], int],
    base: list[PointResult],
    cur: list[PointResult],
) -> MetricComparison:
    worst_base = max(value(p) for p in base)
    worst_cur = max(value(p) for p in cur)
    if worst_cur > worst_base:
        verdict, reason = Verdict.REGRESSION, "above the baseline's worst repeat"
    elif worst_cur < worst_base:
        verdict, reason = Verdict.IMPROVEMENT, "below the baseline's"
    else:
        verdict, reason = Verdict.PASS, "not above the baseline's"
    return MetricComparison(
        metric=name,
        label=label,
        unit="",
        baseline=float(worst_base),
        current=float(worst_cur),
        change_pct=None,
        limit_pct=None,
        verdict=verdict,
        method=ALWAYS,
        reason=reason,
    )


def parse_percent(text: str | float, *, what: str = "", below: float | None = None) -> float:
    """Percent from `10%` or `12.5 %`; a bare number is refused (see `units.parse_percent`)."""
    return units.parse_percent(text, what=what, below=below)
