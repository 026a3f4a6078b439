"""Gate expressions: `throughput >= 0.95 * ideal`, `p99_ms < 500ms`, `lost == 0`.

A small, safe grammar: result field names (`poolbench.results.METRIC_NAMES`), numbers,
durations (`500ms`, `1s`: read in the unit of the time fields they are compared with),
`+ - * /`, unary minus, parentheses, and comparisons (`< <= > >= == !=`, chains too).
The text is parsed with `ast` and every node is checked against a whitelist; nothing is
ever handed to `eval`. The top level must be a comparison, so a gate is a yes/no check.
A syntax error names its column and what was expected there.

A value that does not exist never passes: an expression that touches a figure the point
has no value for (NaN in `PointResult.metrics()`, e.g. no ideal for a 0 ms sink) fails
with "n/a: cannot evaluate ...", and every comparison with NaN fails, `!=` included.
Pure: no I/O.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from poolbench.errors import ConfigError
from poolbench.results import METRIC_NAMES

FIELDS: Final = frozenset(METRIC_NAMES)


def _divide(a: float, b: float) -> float:
    # A zero denominator gives NaN, and every comparison with NaN fails: the gate fails
    # ("n/a") rather than the run crashing.
    if b == 0:
        return math.nan
    return a / b


def _nan_fails(compare: Callable[[float, float], bool]) -> Callable[[float, float], bool]:
    # Python's `nan != x` is True; a value that does not exist must never pass.
    def checked(a: float, b: float) -> bool:
        return not (math.isnan(a) or math.isnan(b)) and compare(a, b)

    return checked


_BINARY: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _divide,
}
_COMPARE: Final[dict[type[ast.cmpop], Callable[[float, float], bool]]] = {
    ast.Lt: _nan_fails(operator.lt),
    ast.LtE: _nan_fails(operator.le),
    ast.Gt: _nan_fails(operator.gt),
    ast.GtE: _nan_fails(operator.ge),
    ast.Eq: _nan_fails(operator.eq),
    ast.NotEq: _nan_fails(operator.ne),
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

# Durations in a gate, and the unit of the fields they are compared with.
_DURATION: Final = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|min|h)(?![\w.])")
_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
}
_FIELD_UNITS: Final = (("_ms", "ms", 1e-3), ("_us_per_email", "µs", 1e-6))

# The syntax check that names a column: tokens of the grammar, in order of precedence.
_TOKEN: Final = re.compile(
    r"\s*(?:(?P<duration>(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|min|h)(?![\w.]))"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))"
    r"|(?P<bad>\.?\d[\w.]*)"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<compare><=|>=|==|!=|<|>)"
    r"|(?P<arith>[-+*/])"
    r"|(?P<open>\()|(?P<close>\)))"
)
_OPERAND: Final = "a number, a duration, a field name, '(' or '-'"


@dataclass(frozen=True, slots=True)
class Comparison:
    """One evaluated comparison: `left op right` with the measured numbers."""

    left: float
    op: str
    right: float
    passed: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """A gate evaluated on one point's values.

    `missing`: the names it touched that have no value; `reason`: why it could not be
    evaluated ("n/a: ..."), None when every number it needed exists.
    """

    text: str
    passed: bool
    comparisons: tuple[Comparison, ...]
    missing: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def measured(self) -> str:
        """`612 < 500`, or the reason the gate could not be evaluated."""
        if self.reason is not None:
            return self.reason
        return " and ".join(f"{c.left:g} {c.op} {c.right:g}" for c in self.comparisons)

    def explain(self) -> str:
        """`p99_ms < 500 (measured: 612 < 500)`."""
        return f"{self.text} (measured: {self.measured})"


@dataclass(frozen=True, slots=True)
class GateExpr:
    """A parsed gate; build with `parse_gate`."""

    text: str
    tree: ast.Compare
    names: frozenset[str]
    durations: Mapping[str, float] = field(default_factory=dict)

    def evaluate(
        self, values: Mapping[str, float], why: Mapping[str, str] | None = None
    ) -> Outcome:
        """Evaluate on a point's values (`PointResult.metrics()`); `why`: for a name
        without a value, why it has none (`PointResult.missing_reasons()`)."""
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
        absent = tuple(sorted(n for n in self.names if math.isnan(values[n])))
        reason = None
        if absent:
            reasons = why or {}
            has = "; ".join(
                f"{name} has no value" + (f" ({reasons[name]})" if name in reasons else "")
                for name in absent
            )
            reason = f"n/a: cannot evaluate `{self.text}`: {has}"
        elif any(math.isnan(c.left) or math.isnan(c.right) for c in comparisons):
            reason = f"n/a: cannot evaluate `{self.text}`: a division by zero"
        passed = reason is None and all(c.passed for c in comparisons)
        return Outcome(self.text, passed, tuple(comparisons), absent, reason)


def parse_gate(text: str) -> GateExpr:
    """Parse and check one gate expression; `ConfigError` saying what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"gate: expected an expression like 'p99_ms < 500', got {text!r}")
    if len(text) > _MAX_LENGTH:
        raise ConfigError(f"gate {text[:40]!r}...: longer than {_MAX_LENGTH} characters")
    text = text.strip()
    source, durations = _hide_durations(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"gate {text!r}: not a valid expression ({_syntax(text, exc)})") from exc
    body = tree.body
    names: set[str] = set()
    for node in ast.walk(body):
        _check_node(node, text, names, durations)
    if not isinstance(body, ast.Compare):
        raise ConfigError(
            f"gate {text!r}: must be a comparison such as 'p99_ms < 500' "
            "(use <, <=, >, >=, == or !=)"
        )
    for operand in (body.left, *body.comparators):
        if any(isinstance(node, ast.Compare) for node in ast.walk(operand)):
            raise ConfigError(f"gate {text!r}: a comparison inside a comparison is not allowed")
    body = _with_durations(body, text, durations)
    return GateExpr(text, body, frozenset(names - set(durations)), dict(durations))


def _hide_durations(text: str) -> tuple[str, dict[str, float]]:
    """`p99_ms < 500ms` -> `p99_ms < _d0__` and {"_d0__": 0.5 (seconds)}: a placeholder
    name of the same length, so `ast` can parse it and columns stay where they were."""
    durations: dict[str, float] = {}
    parts: list[str] = []
    last = 0
    for match in _DURATION.finditer(text):
        token = match.group(0)
        tag = f"_d{len(durations)}"
        if len(tag) > len(token):
            tag = f"_{len(durations)}"
        if len(tag) > len(token):
            raise ConfigError(f"gate {text!r}: too many durations")
        name = tag.ljust(len(token), "_")
        durations[name] = float(match.group(1)) * _SECONDS[match.group(2)]
        parts += [text[last : match.start()], name]
        last = match.end()
    parts.append(text[last:])
    return "".join(parts), durations


def _with_durations(body: ast.Compare, text: str, durations: Mapping[str, float]) -> ast.Compare:
    """Durations as numbers in the unit of the time fields of their comparison."""
    if not durations:
        return body
    fields_in = {n.id for n in ast.walk(body) if isinstance(n, ast.Name) and n.id not in durations}
    units = {
        (unit, scale)
        for name in fields_in
        for suffix, unit, scale in _FIELD_UNITS
        if name.endswith(suffix)
    }
    if len(units) != 1 or any(not _is_time(name) for name in fields_in):
        times = ", ".join(sorted(n for n in METRIC_NAMES if _is_time(n))[:4])
        raise ConfigError(
            f"gate {text!r}: a duration compares only with time fields of one unit "
            f"(such as {times}, ...), not with {', '.join(sorted(fields_in)) or 'numbers alone'}"
        )
    ((_, scale),) = units

    class _Replace(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in durations:
                return ast.copy_location(ast.Constant(durations[node.id] / scale), node)
            return node

    replaced = _Replace().visit(body)
    assert isinstance(replaced, ast.Compare)
    return replaced


def _is_time(name: str) -> bool:
    return any(name.endswith(suffix) for suffix, _, _ in _FIELD_UNITS)


def _syntax(text: str, exc: SyntaxError) -> str:
    """Where the expression stops being one, and what was expected there."""
    expect_operand = True
    depth = 0
    position = 0
    while True:
        match = _TOKEN.match(text, position)
        column = len(text[:position]) + len(text[position:]) - len(text[position:].lstrip()) + 1
        if match is None or match.end() == position:
            rest = text[position:].strip()
            if not rest:
                if expect_operand:
                    return f"column {column}: expected {_OPERAND}, found the end"
                if depth:
                    return f"column {column}: expected ')', found the end"
                break
            wanted = _OPERAND if expect_operand else "an operator (+ - * / < <= > >= == !=)"
            return f"column {column}: expected {wanted}, found {rest[0]!r}"
        kind = match.lastgroup
        found = match.group(kind or 0)
        if kind == "bad":
            units = ", ".join(_SECONDS)
            return f"column {column}: {found!r} is neither a number nor a duration (units: {units})"
        if (expect_operand and kind in ("compare", "close")) or (
            expect_operand and kind == "arith" and found not in "+-"
        ):
            return f"column {column}: expected {_OPERAND}, found {found!r}"
        if not expect_operand and kind in ("duration", "number", "name", "open"):
            return (
                f"column {column}: expected an operator (+ - * / < <= > >= == !=) or the end, "
                f"found {found!r}"
            )
        if kind == "open":
            depth += 1
        elif kind == "close":
            if depth == 0:
                return f"column {column}: ')' without its '('"
            depth -= 1
        expect_operand = kind in ("compare", "arith", "open")
        position = match.end()
    where = f"column {exc.offset}: " if exc.offset else ""
    return f"{where}{exc.msg}"


def _check_node(node: ast.AST, text: str, names: set[str], durations: Mapping[str, float]) -> None:
    if isinstance(node, ast.Name):
        if node.id in durations:
            return
        if node.id not in FIELDS:
            close = difflib.get_close_matches(node.id, METRIC_NAMES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(METRIC_NAMES)}"
            raise ConfigError(f"gate {text!r}: unknown name {node.id!r} ({hint})")
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
