import math
import operator

import pytest

from poolbench.errors import ConfigError
from poolbench.gate_expr import FIELDS, parse_gate
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


# -- a value that does not exist never passes (issue 22, point 4) --


@pytest.mark.parametrize(
    "text",
    [
        "throughput >= 0.9 * ideal",
        "throughput != ideal",
        "ideal == ideal",
        "-ideal < 0",
        "0 <= throughput <= ideal",
    ],
)
def test_a_missing_figure_fails_every_comparison_ne_included(text: str) -> None:
    outcome = parse_gate(text).evaluate(VALUES | {"ideal": math.nan})
    assert not outcome.passed
    assert outcome.missing == ("ideal",)
    assert outcome.reason is not None and outcome.reason.startswith("n/a: cannot evaluate")


def test_the_missing_figure_is_named_with_why_it_has_no_value() -> None:
    gate = parse_gate("throughput >= 0.9 * ideal")
    outcome = gate.evaluate(VALUES | {"ideal": math.nan}, {"ideal": "the sink has no latency"})
    assert outcome.measured == (
        "n/a: cannot evaluate `throughput >= 0.9 * ideal`: "
        "ideal has no value (the sink has no latency)"
    )
    assert outcome.explain().endswith("(the sink has no latency))")


def test_nan_not_equal_fails_although_python_says_true() -> None:
    assert operator.ne(math.nan, 0)  # what a plain `operator.ne` would pass
    assert not parse_gate("lost != 1").evaluate(VALUES | {"lost": math.nan}).passed
    assert parse_gate("lost != 1").evaluate(VALUES | {"lost": 0.0}).passed


def test_division_by_zero_is_reported_as_not_evaluable() -> None:
    outcome = parse_gate("throughput / lost > 1").evaluate(VALUES | {"lost": 0.0})
    assert not outcome.passed
    assert outcome.measured == "n/a: cannot evaluate `throughput / lost > 1`: a division by zero"


# -- durations and syntax errors with a column (issue 25) --


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("p99_ms < 500ms", 500.0),
        ("p99_ms < 1s", 1000.0),
        ("p99_ms < 1.5s", 1500.0),
        ("service_p99_ms <= 250us", 0.25),
        ("p99_ms < 2min", 120_000.0),
        ("cpu_us_per_email < 1ms", 1000.0),
        ("sink_cpu_us_per_email < 30us", 30.0),
    ],
)
def test_durations_read_in_the_unit_of_the_field(text: str, number: float) -> None:
    gate = parse_gate(text)
    (comparison,) = gate.evaluate(VALUES).comparisons
    assert comparison.right == pytest.approx(number)
    assert gate.text == text
    assert gate.names == {text.split(maxsplit=1)[0]}


def test_a_duration_gate_decides_as_its_number_does() -> None:
    values = VALUES | {"p99_ms": 612.0}
    assert not parse_gate("p99_ms < 500ms").evaluate(values).passed
    assert parse_gate("p99_ms < 1s").evaluate(values).passed
    assert parse_gate("p99_ms + 100ms < 1s").evaluate(values).passed
    assert not parse_gate("p99_ms + 500ms < 1s").evaluate(values).passed


@pytest.mark.parametrize(
    "text",
    ["throughput > 1s", "lost < 5ms", "p99_ms < cpu_us_per_email + 1ms", "1s < 2s"],
)
def test_a_duration_beside_a_non_time_field_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="a duration compares only with time fields"):
        parse_gate(text)


def test_p99_with_a_unit_gets_a_name_hint_not_the_tokenizer_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate("p99 < 500ms")
    message = str(info.value)
    assert "invalid decimal literal" not in message
    assert "unknown name 'p99' (did you mean 'p99_ms'?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "p99_ms < < 5",
            "column 10: expected a number, a duration, a field name, '(' or '-', found '<'",
        ),
        (
            "p99_ms <",
            "column 9: expected a number, a duration, a field name, '(' or '-', found the end",
        ),
        ("(p99_ms < 5", "column 12: expected ')', found the end"),
        (
            "p99_ms 5 < 3",
            "column 8: expected an operator (+ - * / < <= > >= == !=) or the end, found '5'",
        ),
        ("p99_ms < 5)", "column 11: ')' without its '('"),
        ("p99_ms < 5 $", "column 12: expected an operator (+ - * / < <= > >= == !=), found '$'"),
        ("p99_ms < 5xs", "column 10: '5xs' is neither a number nor a duration (units: ns, us"),
    ],
)
def test_a_syntax_error_names_the_column_and_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate(text)
    assert expected in str(info.value)
