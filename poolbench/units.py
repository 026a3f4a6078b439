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


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds from `100ms`, `2s`, `1.5m`, or a bare number of seconds."""
    if isinstance(text, bool):
        raise ConfigError(f"{what}: expected a duration like '100ms' or '2s', got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ConfigError(f"{what}: expected a duration like '100ms' or '2s', got {text!r}")
        seconds = float(match.group(1)) * _DURATION_SCALE[match.group(2) or "s"]
    if not math.isfinite(seconds):
        raise ConfigError(f"{what}: expected a finite duration, got {text!r}")
    if seconds < 0:
        raise ConfigError(f"{what}: must not be negative, got {text!r}")
    return seconds


def parse_rate(text: str | float | int, *, what: str = "rate") -> float:
    """Events per second from `500/s`, `30000/min`, or a bare number per second."""
    if isinstance(text, bool):
        raise ConfigError(f"{what}: expected a rate like '500/s', got {text!r}")
    if isinstance(text, int | float):
        rate = float(text)
    else:
        match = _RATE.match(text)
        if match is None:
            raise ConfigError(f"{what}: expected a rate like '500/s', got {text!r}")
        rate = float(match.group(1)) / _RATE_PER[match.group(2) or "s"]
    if not math.isfinite(rate):
        raise ConfigError(f"{what}: expected a finite rate, got {text!r}")
    if rate <= 0:
        raise ConfigError(f"{what}: must be positive, got {text!r}")
    return rate


def format_duration(seconds: float) -> str:
    """The shortest plain form: `250ms`, `1.5s`, `90s`."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
