"""Absolute gates: a scenario's `gates:` expressions checked on every measured point.

Pure: `evaluate_gates(["p99_ms < 500"], result_set.points)` gives one verdict per point,
repeat and gate, each naming the point's params, the gate text and the measured values.
`poolbench run` exits 1 when `GateReport.passed` is false (after writing the results).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from poolbench.gates.expr import parse_gate
from poolbench.results import ParamValue, PointResult


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
    measured: str  # e.g. "612 < 500": the comparison with the measured numbers

    def describe(self) -> str:
        """One line for a person: which point, which gate, what was measured."""
        status = "passed" if self.passed else "FAILED"
        return (
            f"point {describe_params(self.params)} (repeat {self.repeat}): "
            f"gate {self.gate!r} {status} (measured: {self.measured})"
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
        for gate in parsed:
            outcome = gate.evaluate(values)
            measured = " and ".join(f"{c.left:g} {c.op} {c.right:g}" for c in outcome.comparisons)
            verdicts.append(
                GateVerdict(
                    params=point.params,
                    repeat=point.repeat,
                    gate=gate.text,
                    passed=outcome.passed,
                    measured=measured,
                )
            )
    return GateReport(verdicts=tuple(verdicts))
