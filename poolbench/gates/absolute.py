"""Absolute gates: a scenario's `gates:` expressions checked on every measured point.

Pure: `evaluate_gates(["p99_ms < 500"], result_set.points)` gives one verdict per point,
repeat and gate, each naming the point's params, the gate text and the measured values.
A gate that reads a figure the point has no value for fails ("n/a: cannot evaluate ...").
`poolbench run` stores each verdict on its point (`with_verdicts`, in results.json) and
exits 1 when `GateReport.passed` is false (after writing the results).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from poolbench.gate_expr import parse_gate
from poolbench.results import GateResult, ParamValue, PointResult


def describe_params(params: Mapping[str, ParamValue]) -> str:
    """`consumer.workers=5, consumer.buffer=50`; `(no sweep)` for a single point."""
    if not params:
        return "(no sweep)"
    return ", ".join(f"{key}={value}" for key, value in params.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class GateVerdict:
    """One gate on one point and repeat."""

    params: Mapping[str, ParamValue]
    repeat: int
    gate: str
    passed: bool
    measured: str  # e.g. "612 < 500", or "n/a: cannot evaluate ...: ideal has no value (...)"
    values: Mapping[str, float | None] = field(default_factory=dict)  # the figures it read

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def describe(self) -> str:
        """One line for a person: which point, which gate, what was measured."""
        status = "passed" if self.passed else "FAILED"
        return (
            f"point {describe_params(self.params)} (repeat {self.repeat}): "
            f"gate {self.gate!r} {status} (measured: {self.measured})"
        )

    def stored(self) -> GateResult:
        """The verdict as results.json keeps it on its point."""
        return GateResult(
            gate=self.gate, passed=self.passed, measured=self.measured, values=self.values
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    """Every verdict of a run, in point order then gate order."""

    verdicts: tuple[GateVerdict, ...]

    @property
    def failures(self) -> tuple[GateVerdict, ...]:
        return tuple(v for v in self.verdicts if not v.passed)

    @property
    def passed(self) -> bool:
        return not self.failures


def evaluate_gates(gates: Sequence[str], points: Iterable[PointResult]) -> GateReport:
    """Check every gate on every point; a malformed gate raises `ConfigError` up front."""
    parsed = [parse_gate(text) for text in gates]
    verdicts: list[GateVerdict] = []
    for point in points:
        values = point.metrics()
        why = point.missing_reasons()
        for gate in parsed:
            outcome = gate.evaluate(values, why)
            verdicts.append(
                GateVerdict(
                    params=point.params,
                    repeat=point.repeat,
                    gate=gate.text,
                    passed=outcome.passed,
                    measured=outcome.measured,
                    values={
                        name: None if math.isnan(values[name]) else values[name]
                        for name in sorted(gate.names)
                    },
                )
            )
    return GateReport(verdicts=tuple(verdicts))


def with_verdicts(points: Sequence[PointResult], report: GateReport) -> tuple[PointResult, ...]:
    """The points with their own verdicts from `report` (matched by params and repeat)."""
    by_point: dict[tuple[str, int], list[GateResult]] = {}
    for verdict in report.verdicts:
        key = (_params_key(verdict.params), verdict.repeat)
        by_point.setdefault(key, []).append(verdict.stored())
    return tuple(
        replace(point, gates=tuple(by_point.get((point.params_key, point.repeat), ())))
        for point in points
    )


def _params_key(params: Mapping[str, ParamValue]) -> str:
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
