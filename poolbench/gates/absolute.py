"""Absolute gates: a scenario's `gates:` expressions checked on every measured point.

Pure: `evaluate_gates(["p99_ms < 500"], result_set.points)` gives one verdict per point
and gate, each naming the point's params, the gate and the measured values.
`poolbench run` exits 1 when `GateReport.passed` is false, after writing the results.
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
    params: Mapping[str, ParamValue]
    repeat: int
    gate: str
    passed: bool
    measured: str  # the comparison with the measured numbers, e.g. "612 < 500"

    def describe(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return (
            f"point {describe_params(self.params)} (repeat {self.repeat}): "
            f"gate {self.gate!r} {status} (measured: {self.measured})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    verdicts: tuple[GateVerdict, ...]

    @property
    def failures(self) -> tuple[GateVerdict, ...]:
        return tuple(v for v in self.verdicts if not v.passed)

    @property
    def passed(self) -> bool:
        return not self.failures


def evaluate_gates(gates: Sequence[str], points: Iterable[PointResult]) -> GateReport:
    """Every gate on every point, in point order; a malformed gate raises `ConfigError`."""
    parsed = [parse_gate(text) for text in gates]
    verdicts = []
    for point in points:
        values = point.metrics()
        for gate in parsed:
            outcome = gate.evaluate(values)
            verdicts.append(
                GateVerdict(
                    params=point.params,
                    repeat=point.repeat,
                    gate=gate.text,
                    passed=outcome.passed,
                    measured=" and ".join(
                        f"{c.left:g} {c.op} {c.right:g}" for c in outcome.comparisons
                    ),
                )
            )
    return GateReport(verdicts=tuple(verdicts))
