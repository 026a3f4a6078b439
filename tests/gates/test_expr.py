import math

import pytest

from poolbench.errors import ConfigError
from poolbench.gates.expr import FIELDS, parse_gate
from poolbench.results import METRIC_NAMES

VALUES = {name: 1.0 for name in METRIC_NAMES} | {
    "throughput": 92.0,
    "ideal": 100.0,
    "p99_ms": 612.0,
    "lost": 0.0,
}


def test_fields_are_the_result_metric_names() -> None:
    assert frozenset(METRIC_NAMES) == FIELDS


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("throughput >= 0.95 * ideal", False),
        ("throughput >= 0.9 * ideal", True),
        ("p99_ms < 1000", True),
        ("p99_ms < 500", False),
        ("lost == 0", True),
        ("lost != 0", False),
        ("(throughput - ideal) / ideal > -0.1", True),
        ("-p99_ms < 0", True),
        ("0 <= lost <= 1", True),
        ("0 < lost <= 1", False),
    ],
)
def test_evaluates_arithmetic_and_comparisons(text: str, passed: bool) -> None:
    assert parse_gate(text).evaluate(VALUES).passed is passed


def test_outcome_explains_with_measured_values() -> None:
    outcome = parse_gate("p99_ms < 500").evaluate(VALUES)
    assert outcome.explain() == "p99_ms < 500 (measured: 612 < 500)"
    chained = parse_gate("throughput >= 0.95 * ideal").evaluate(VALUES)
    assert chained.comparisons[0].right == pytest.approx(95.0)


def test_division_by_zero_fails_the_gate() -> None:
    outcome = parse_gate("throughput / ideal >= 0.9").evaluate(VALUES | {"ideal": 0.0})
    assert not outcome.passed
    assert math.isnan(outcome.comparisons[0].left)


def test_names_are_collected() -> None:
    assert parse_gate("throughput >= 0.95 * ideal").names == {"throughput", "ideal"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true') == 0", "function calls not allowed"),
        ("len(lost) == 0", "function calls not allowed"),
        ("throughput.real > 0", "attribute access not allowed"),
        ("latency > 5", "unknown name 'latency'"),
        ("lost == 0 and p99_ms < 5", "'and'/'or'"),
        ("lost ** 2 < 1", "'\\*\\*' not allowed"),
        ("'a' < lost", "only numbers"),
        ("True == lost", "only numbers"),
        ("throughput", "must be a comparison"),
        ("throughput * 2", "must be a comparison"),
        ("(lost < 1) + 1 > 0", "comparison inside a comparison"),
        ("p99_ms <", "not a valid expression"),
        ("", "expected an expression"),
        ("[lost][0] == 0", "not allowed"),
        ("lost if lost else 0 > 1", "not allowed"),
    ],
)
def test_rejects_everything_outside_the_grammar(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_gate(text)


def test_missing_value_is_reported() -> None:
    gate = parse_gate("p99_ms < 5")
    with pytest.raises(ConfigError, match="no value for p99_ms"):
        gate.evaluate({"lost": 0.0})
