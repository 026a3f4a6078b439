"""Typed reads of a decoded scenario that collect errors, each at its file, line and key path.

A bad value is recorded and replaced by its default, so that one pass over a file finds
every problem; `raise_all` then raises them in file order.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from poolbench.errors import ConfigError, ScenarioError, ScenarioErrors

_T = TypeVar("_T")
# A key's default when the key is required.
MISSING: Final = object()


def raise_all(errors: list[ScenarioError], *, path: str = "") -> None:
    """Raise `errors` in file order: one as itself, several as a `ScenarioErrors`."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: e.line if e.line is not None else 1 << 30)
    if len(ordered) == 1:
        raise ordered[0]
    raise ScenarioErrors(ordered, path=path)


class Reader:
    """Typed reads from one file; errors carry the file, line and dotted key, and are
    collected (a bad value is replaced by its default so that the rest is still read)."""

    def __init__(self, source: str, lines: Mapping[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.errors: list[ScenarioError] = []

    def line_of(self, key: str) -> int | None:
        """The line of `key`, else of its nearest enclosing key (a missing key: its section)."""
        if not self.lines:
            return None
        path = "" if key == "(top level)" else key
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""

    def error(self, message: str, key: str) -> ScenarioError:
        return ScenarioError(message, path=self.source, key=key, line=self.line_of(key))

    def fail(self, message: str, key: str) -> None:
        """Record a problem at `key` and go on reading."""
        self.errors.append(self.error(message, key))

    def record(self, exc: ScenarioError) -> None:
        if isinstance(exc, ScenarioErrors):
            self.errors.extend(exc.errors)
        elif exc.line is None and self.lines:
            self.errors.append(
                ScenarioError(exc.message, path=exc.path, key=exc.key, line=self.line_of(exc.key))
            )
        else:
            self.errors.append(exc)

    def guard(self, read: Callable[[Reader, Any], _T], data: Any, fallback: _T) -> _T:
        """`read(self, data)`; on a problem it raised, record it and use `fallback`."""
        try:
            return read(self, data)
        except ScenarioError as exc:
            self.record(exc)
            return fallback

    def raise_errors(self) -> None:
        raise_all(self.errors, path=self.source)

    def located(self, exc: ConfigError, key: str) -> ScenarioError:
        """A library's error about the value at `key`, shown at the key path."""
        if exc.where or exc.what:
            return ScenarioError.from_config(exc, path=self.source, key=key, line=self.line_of(key))
        return self.error(str(exc), key)

    def mapping(self, data: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """`data` as a section; unknown keys are recorded and left out."""
        if data is None:
            return {"": key}
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {show(data)}", key or "(top level)")
            return {"": key}
        section: dict[str, Any] = {"": key}
        for name, value in data.items():
            if name not in allowed:
                hint = difflib.get_close_matches(str(name), allowed, n=1)
                also = (
                    f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(allowed)})"
                )
                self.fail(f"unknown key{also}", join_key(key, str(name)))
                continue
            section[name] = value
        return section

    def value(
        self,
        section: dict[str, Any],
        name: str,
        kind: type[_T],
        expected: str,
        *,
        default: Any = MISSING,
    ) -> _T:
        key = join_key(section.get("", ""), name)
        value = section.get(name, default)
        if value is MISSING:
            self.fail(f"missing; expected {expected}", key)
            return kind()
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            self.fail(f"expected {expected}, got {show(value)}", key)
            return default if default is not MISSING else kind()
        return value

    def optional_str(self, section: dict[str, Any], name: str) -> str | None:
        if section.get(name) is None:
            return None
        count = len(self.errors)
        text = self.value(section, name, str, "a string")
        if len(self.errors) > count:
            return None
        if not text.strip():
            self.fail("must not be empty", join_key(section[""], name))
            return None
        return text

    def integer(
        self,
        section: dict[str, Any],
        name: str,
        *,
        default: int | None,
        minimum: int,
        optional: bool = False,
    ) -> int:
        key = join_key(section.get("", ""), name)
        if optional and section.get(name) is None:
            return default  # type: ignore[return-value]
        fallback = default if default is not None else minimum
        count = len(self.errors)
        value = self.value(section, name, int, "an integer", default=default)
        if len(self.errors) > count:
            return fallback
        if value < minimum:
            self.fail(f"must be at least {minimum}, got {value}", key)
            return fallback
        return value

    def share(self, section: dict[str, Any], name: str, *, below_one: bool = False) -> float:
        key = join_key(section.get("", ""), name)
        value = section.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"expected a share between 0 and 1, got {show(value)}", key)
            return 0.0
        if not 0 <= value <= 1 or (below_one and value == 1):
            bound = "1 (excluded)" if below_one else "1"
            self.fail(f"must be between 0 and {bound}, got {value}", key)
            return 0.0
        return float(value)

    def parsed(
        self,
        section: dict[str, Any],
        name: str,
        parse: Callable[..., float],
        *,
        default: Any,
        positive: bool = False,
    ) -> float:
        key = join_key(section.get("", ""), name)
        value = section.get(name, default)
        fallback = 1.0 if default is MISSING or default is None else parse(default, what=key)
        if value is MISSING:
            self.fail("missing", key)
            return fallback
        try:
            result = parse(value, what=key)
        except ConfigError as exc:
            self.errors.append(self.located(exc, key))
            return fallback
        if positive and result <= 0:
            self.fail(f"must be positive, got {show(value)}", key)
            return fallback
        return result


def join_key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


_KIND_NAMES: Final[dict[type, str]] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def show(value: Any) -> str:
    kind = _KIND_NAMES.get(type(value))
    return f"{kind} {value!r}" if kind else repr(value)
