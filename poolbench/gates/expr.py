"""Gate expressions: `throughput >= 0.95 * ideal`, `p99_ms < 500`, `lost == 0`.

A small, safe grammar: result field names (`poolbench.results.METRIC_NAMES`), numbers,
`+ - * /`, unary minus, parentheses, and comparisons (`< <= > >= == !=`, chains too).
The text is parsed with `ast` and every node is checked against a whitelist; nothing is
ever handed to `eval`. The top level must be a comparison, so a gate is a yes/no check.
Pure: no I/O.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from poolbench.errors import ConfigError
from poolbench.results import METRIC_NAMES

FIELDS: Final = frozenset(METRIC_NAMES)


def _divide(a: float, b: float) -> float:
    # A zero denominator (e.g. an ideal of 0) gives NaN, and every comparison with NaN
    # is false: the gate fails rather than the run crashing.
    if b == 0:
        return math.nan
    return a / b


_BINARY: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _divide,
}
_COMPARE: Final[dict[type[ast.cmpop], Callable[[float, float], bool]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_SYMBOLS: Final[dict[type[ast.AST], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_MAX_LENGTH: Final = 500

# What a rejected node is called in the error message.
_FORBIDDEN: Final[dict[type[ast.AST], str]] = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.BoolOp: "'and'/'or' (write one gate per check)",
    ast.Lambda: "lambdas",
    ast.Pow: "'**'",
    ast.FloorDiv: "'//'",
    ast.Mod: "'%'",
}


@dataclass(frozen=True, slots=True)
class Comparison:
    """One evaluated comparison: `left op right` with the measured numbers."""

    left: float
    op: str
    right: float
    passed: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """A gate evaluated on one point's values."""

    text: str
    passed: bool
    comparisons: tuple[Comparison, ...]

    def explain(self) -> str:
        """`p99_ms < 500 (measured: 612 < 500)`."""
        parts = " and ".join(f"{c.left:g} {c.op} {c.right:g}" for c in self.comparisons)
        return f"{self.text} (measured: {parts})"


@dataclass(frozen=True, slots=True)
class GateExpr:
    """A parsed gate; build with `parse_gate`."""

    text: str
    tree: ast.Compare
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, float]) -> Outcome:
        """Evaluate on a point's values (`PointResult.metrics()`)."""
        missing = sorted(self.names - set(values))
        if missing:
            raise ConfigError(f"gate {self.text!r}: no value for {', '.join(missing)}")
        comparisons: list[Comparison] = []
        left = _value(self.tree.left, values)
        for op, right_node in zip(self.tree.ops, self.tree.comparators, strict=True):
            right = _value(right_node, values)
            passed = _COMPARE[type(op)](left, right)
            comparisons.append(Comparison(left, _SYMBOLS[type(op)], right, passed))
            left = right
        return Outcome(self.text, all(c.passed for c in comparisons), tuple(comparisons))


def parse_gate(text: str) -> GateExpr:
    """Parse and check one gate expression; `ConfigError` saying what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"gate: expected an expression like 'p99_ms < 500', got {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ConfigError(f"gate {text[:40]!r}...: longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"gate {text!r}: not a valid expression ({exc.msg})") from exc
    body = tree.body
    names: set[str] = set()
    for node in ast.walk(body):
        _check_node(node, text, names)
    if not isinstance(body, ast.Compare):
        raise ConfigError(
            f"gate {text!r}: must be a comparison such as 'p99_ms < 500' "
            "(use <, <=, >, >=, == or !=)"
        )
    for operand in (body.left, *body.comparators):
        if any(isinstance(node, ast.Compare) for node in ast.walk(operand)):
            raise ConfigError(f"gate {text!r}: a comparison inside a comparison is not allowed")
    return GateExpr(text.strip(), body, frozenset(names))


def _check_node(node: ast.AST, text: str, names: set[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id not in FIELDS:
            hint = difflib.get_close_matches(node.id, METRIC_NAMES, n=1)
            known = f"did you mean {hint[0]!r}?" if hint else f"known: {', '.join(METRIC_NAMES)}"
            raise ConfigError(f"gate {text!r}: unknown name {node.id!r} ({known})")
        names.add(node.id)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ConfigError(f"gate {text!r}: only numbers are allowed, not {node.value!r}")
        return
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare | ast.Load):
        return
    if isinstance(node, ast.UAdd | ast.USub) or type(node) in _BINARY or type(node) in _COMPARE:
        return
    what = _FORBIDDEN.get(type(node), f"'{type(node).__name__}'")
    raise ConfigError(f"gate {text!r}: {what} not allowed")


def _value(node: ast.expr, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, values), _value(node.right, values))
    # parse_gate admits nothing else.
    raise AssertionError(f"unexpected node {type(node).__name__}")
