"""Human-readable durations and rates, as config and flags write them: `100ms`, `2s`, `500/s`."""

from __future__ import annotations

import math
import re

from poolbench.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_DURATION_SCALE = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:/\s*(s|sec|m|min|h))?\s*$")
_RATE_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_A_DURATION = "a duration like '100ms' or '2s'"
_A_RATE = "a rate like '500/s'"


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds from `100ms`, `2s`, `1.5m`, or a bare number of seconds.

    A `ConfigError` is located at `what` (`where`), and its `detail` says the rest.
    """
    if isinstance(text, bool):
        raise ConfigError(what=what, where=what, expected=_A_DURATION, got=text)
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ConfigError(what=what, where=what, expected=_A_DURATION, got=text)
        seconds = float(match.group(1)) * _DURATION_SCALE[match.group(2) or "s"]
    if not math.isfinite(seconds):
        raise ConfigError(what=what, where=what, expected="a finite duration", got=text)
    if seconds < 0:
        raise ConfigError("must not be negative", what=what, where=what, got=text)
    return seconds


def parse_rate(text: str | float | int, *, what: str = "rate") -> float:
    """Events per second from `500/s`, `30000/min`, or a bare number per second."""
    if isinstance(text, bool):
        raise ConfigError(what=what, where=what, expected=_A_RATE, got=text)
    if isinstance(text, int | float):
        rate = float(text)
    else:
        match = _RATE.match(text)
        if match is None:
            raise ConfigError(what=what, where=what, expected=_A_RATE, got=text)
        rate = float(match.group(1)) / _RATE_PER[match.group(2) or "s"]
    if not math.isfinite(rate):
        raise ConfigError(what=what, where=what, expected="a finite rate", got=text)
    if rate <= 0:
        raise ConfigError("must be positive", what=what, where=what, got=text)
    return rate


def format_duration(seconds: float) -> str:
    """The shortest plain form: `250ms`, `1.5s`, `90s`."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*%\s*$")
_A_PERCENT = "a percentage like '10%'"


def parse_percent(text: str | float | int, *, what: str = "", below: float | None = None) -> float:
    """Percent from `10%` or `12.5 %`. A bare number is refused, not reinterpreted: `0.1`
    could mean 0.1% or 10%, and a gate that guesses wrong passes every regression.

    `below`: the value must be smaller than this many percent (a drop of 100% is all).
    """
    if isinstance(text, bool):
        raise ConfigError(what=what, where=what, expected=_A_PERCENT, got=text)
    text = text if isinstance(text, str) else f"{text:g}"
    match = _PERCENT.match(text)
    if match is None:
        stripped = text.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", stripped):
            raise ConfigError(
                f"write a percentage with its sign, like '{stripped}%' "
                "(a bare number is ambiguous: 0.1 could mean 0.1% or 10%)",
                what=what,
                where=what,
                got=text,
            )
        raise ConfigError(what=what, where=what, expected=_A_PERCENT, got=text)
    value = float(match.group(1))
    if below is not None and value >= below:
        raise ConfigError(f"must be below {below:g}%", what=what, where=what, got=text)
    return value
