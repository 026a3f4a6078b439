"""Baseline comparison: a current ResultSet against a stored baseline, point by point.

Pure. Points are matched by their params (the swept values). Per matched point, each
gated metric (throughput, p99 latency, peak memory by default; results.json's names) is
judged by the one regression engine, `poolbench.gates.verdict.judge`, with the baseline
as A and the current run as B: worse, better, within +-min_effect (the thresholds, e.g.
`--max-throughput-drop`), or inconclusive. With too few repeats for any test (1 against
1, or 3 against 3 at alpha 0.05) B's change (the Hodges-Lehmann estimate: with one repeat
a side, the ratio) is held to the thresholds alone, and the verdict and the notes say
that no significance was possible.

Lost and duplicated emails beyond the baseline's (the worst repeat on each side) are
always a regression, whatever the thresholds. Inputs that cannot be compared honestly
(other schema, other scenario, other environment, nothing in common) raise
`GateInputError` unless the caller allows the scenario or environment change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from poolbench import units
from poolbench.errors import GateInputError
from poolbench.gates.absolute import describe_params
from poolbench.gates.stats import min_repeats, reachable
from poolbench.gates.verdict import BY_NAME, MetricVerdict, Verdict, judge, too_busy
from poolbench.results import ParamValue, PointResult, ResultSet, comparable_versions

# The gate's flags, by the metric each sets the min effect of.
FLAGS: Final = MappingProxyType(
    {
        "throughput": "--max-throughput-drop",
        "p99_ms": "--max-p99-rise",
        "memory_peak_mb": "--max-memory-rise",
    }
)
DEFAULT_MIN_EFFECT: Final = MappingProxyType(
    {"throughput": 0.10, "p99_ms": 0.25, "memory_peak_mb": 0.20}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What the gate lets through: per metric, the min effect (a fraction: 0.1 is
    +-10%) a change must be shown to stay within; the significance level; and whether an
    inconclusive verdict fails."""

    min_effect: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    alpha: float = 0.05
    fail_on_inconclusive: bool = False

    def __post_init__(self) -> None:
        for name, value in self.min_effect.items():
            where = FLAGS.get(name, name)
            if name not in BY_NAME:
                raise GateInputError(f"{where}: unknown metric; known: {', '.join(BY_NAME)}")
            if not value >= 0:
                raise GateInputError(f"{where}: must not be negative, got {100 * value:g}%")
        if self.min_effect.get("throughput", 0) >= 1:
            raise GateInputError(
                f"{FLAGS['throughput']}: must be below 100%, "
                f"got {100 * self.min_effect['throughput']:g}%"
            )
        if not 0 < self.alpha < 1:
            raise GateInputError(f"--alpha: must lie between 0 and 1, got {self.alpha}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CountCheck:
    """Lost or duplicated emails: the worst repeat of each side; any excess fails."""

    name: str
    title: str
    baseline: int
    current: int

    @property
    def verdict(self) -> Verdict:
        if self.current > self.baseline:
            return Verdict.WORSE
        return Verdict.BETTER if self.current < self.baseline else Verdict.WITHIN

    @property
    def detail(self) -> str:
        if self.current > self.baseline:
            return "above the baseline's worst repeat: any excess fails"
        return (
            "below the baseline's" if self.current < self.baseline else "not above the baseline's"
        )


_COUNTS: Final[tuple[tuple[str, str, Callable[[PointResult], int]], ...]] = (
    ("lost", "lost emails", lambda p: p.lost),
    ("duplicates", "duplicates", lambda p: p.duplicates),
)
# Worst first: a point's verdict is the worst of its metrics'.
_SEVERITY: Final = (Verdict.WORSE, Verdict.INCONCLUSIVE, Verdict.BETTER, Verdict.WITHIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointComparison:
    """Every gated metric and count of one matched point."""

    params: Mapping[str, ParamValue]
    baseline_repeats: int
    current_repeats: int
    metrics: tuple[MetricVerdict, ...]
    counts: tuple[CountCheck, ...]

    @property
    def label(self) -> str:
        return describe_params(self.params)

    @property
    def verdict(self) -> Verdict:
        verdicts = {m.verdict for m in self.metrics} | {c.verdict for c in self.counts}
        return next(v for v in _SEVERITY if v in verdicts or v is Verdict.WITHIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """The whole gate: matched points, unmatched ones, and notes a reader must see."""

    scenario_name: str
    limits: Limits
    baseline_commit: str | None
    current_commit: str | None
    points: tuple[PointComparison, ...]
    only_in_baseline: tuple[str, ...] = ()
    only_in_current: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[tuple[PointComparison, MetricVerdict | CountCheck], ...]:
        checks: list[tuple[PointComparison, MetricVerdict | CountCheck]] = []
        for p in self.points:
            checks += [(p, m) for m in p.metrics] + [(p, c) for c in p.counts]
        return tuple((p, m) for p, m in checks if m.verdict is Verdict.WORSE)

    @property
    def inconclusive(self) -> tuple[tuple[PointComparison, MetricVerdict], ...]:
        return tuple(
            (p, m) for p in self.points for m in p.metrics if m.verdict is Verdict.INCONCLUSIVE
        )

    def fails(self, verdict: Verdict) -> bool:
        return verdict is Verdict.WORSE or (
            verdict is Verdict.INCONCLUSIVE and self.limits.fail_on_inconclusive
        )

    @property
    def passed(self) -> bool:
        return not self.regressions and not (self.limits.fail_on_inconclusive and self.inconclusive)


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
    limits: Limits | None = None,
    allow_scenario_change: bool = False,
    allow_env_change: bool = False,
) -> Comparison:
    """Compare `current` with `baseline`; `GateInputError` when they cannot be compared."""
    limits = limits if limits is not None else Limits()
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
    compared = tuple(_compare_point(base_groups[key], cur_groups[key], limits) for key in matched)
    untested = [
        p for p in compared if not reachable(p.baseline_repeats, p.current_repeats, limits.alpha)
    ]
    if untested:
        sizes = sorted({f"{p.baseline_repeats} against {p.current_repeats}" for p in untested})
        notes.append(
            f"no significance was possible at {len(untested)} point(s): {', '.join(sizes)} "
            f"repeats can never reach alpha {limits.alpha:g}; those verdicts hold the "
            "change to the thresholds alone (use `repeats:` >= "
            f"{min_repeats(limits.alpha)} for a test)"
        )
    runs = [p for key in matched for p in (*base_groups[key], *cur_groups[key])]
    busy = too_busy(
        [m for p in compared for m in p.metrics],
        saturated=sum(p.harness_saturated for p in runs),
        runs=len(runs),
        names=tuple(limits.min_effect),
    )
    if busy:
        notes.append(busy)
    notes.extend(_run_warnings(cur_groups[key] for key in matched))
    return Comparison(
        scenario_name=current.scenario_name,
        limits=limits,
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
    base: list[PointResult], cur: list[PointResult], limits: Limits
) -> PointComparison:
    metrics = tuple(
        judge(
            BY_NAME[name],
            [BY_NAME[name].read(p) for p in base],
            [BY_NAME[name].read(p) for p in cur],
            alpha=limits.alpha,
            min_effect=effect,
            thresholds_alone=True,
        )
        for name, effect in limits.min_effect.items()
    )
    counts = tuple(
        CountCheck(
            name=name,
            title=title,
            baseline=max(value(p) for p in base),
            current=max(value(p) for p in cur),
        )
        for name, title, value in _COUNTS
    )
    return PointComparison(
        params=base[0].params,
        baseline_repeats=len(base),
        current_repeats=len(cur),
        metrics=metrics,
        counts=counts,
    )


def value_text(value: float | None, unit: str) -> str:
    """A median with its unit; "n/a" when not measured, never a number."""
    if value is None or math.isnan(value):
        return "n/a"
    if unit == "emails/s":
        return f"{value:.1f}/s"
    return f"{value:.1f} {unit}"


def change_text(m: MetricVerdict) -> str:
    return "n/a" if m.change is None else f"{100 * m.change:+.1f}%"


def seen_text(m: MetricVerdict) -> str:
    """What the verdict could see: the interval's half-width, or why there is none."""
    if m.resolution is not None:
        return f"+-{100 * m.resolution:.1f}%"
    return "no test" if m.change is not None else "n/a"


def parse_percent(text: str | float, *, what: str = "", below: float | None = None) -> float:
    """Percent from `10%` or `12.5 %`; a bare number is refused (see `units.parse_percent`)."""
    return units.parse_percent(text, what=what, below=below)
