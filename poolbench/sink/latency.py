"""Seeded reply-latency models, and the grammar that builds them from text.

Grammar (durations as in `poolbench.units`: `100ms`, `0.2s`, ...):

    100ms                           fixed
    fixed:100ms                     fixed
    uniform:50ms..150ms             uniform between the two bounds
    normal:100ms,20ms               mean, standard deviation (truncated at 0)
    lognormal:median=80ms,p99=400ms log-normal with that median and 99th percentile
    exp:100ms                       exponential with that mean (median = mean * ln 2)

Every model is pure: `sample(rng)` draws from an injected `random.Random`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from poolbench.errors import ConfigError
from poolbench.units import format_duration, parse_duration

# z such that P(Z <= z) = 0.99 for a standard normal: maps a p99 to a log-normal sigma.
_Z99 = 2.3263478740408408

LATENCY_GRAMMAR = (
    "100ms (fixed), uniform:50ms..150ms, normal:MEAN,STDDEV, "
    "lognormal:median=80ms,p99=400ms, exp:MEAN"
)


class LatencyModel(Protocol):
    def sample(self, rng: random.Random) -> float:
        """One delay, in seconds (never negative)."""
        ...

    def median(self) -> float:
        """The model's median delay in seconds (what tests compare observations with)."""
        ...

    def describe(self) -> str:
        """The model in the grammar's own words."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Fixed:
    delay: float

    def sample(self, rng: random.Random) -> float:
        return self.delay

    def median(self) -> float:
        return self.delay

    def describe(self) -> str:
        return format_duration(self.delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def median(self) -> float:
        return (self.low + self.high) / 2

    def describe(self) -> str:
        return f"uniform:{format_duration(self.low)}..{format_duration(self.high)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Normal:
    mean: float
    stddev: float

    def sample(self, rng: random.Random) -> float:
        # Truncated at zero: a negative delay means "reply at once".
        return max(0.0, rng.gauss(self.mean, self.stddev))

    def median(self) -> float:
        return self.mean

    def describe(self) -> str:
        return f"normal:{format_duration(self.mean)},{format_duration(self.stddev)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogNormal:
    median_delay: float
    p99: float

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median_delay) / _Z99

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_delay), self.sigma)

    def median(self) -> float:
        return self.median_delay

    def describe(self) -> str:
        return (
            f"lognormal:median={format_duration(self.median_delay)},p99={format_duration(self.p99)}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Exponential:
    mean: float

    def sample(self, rng: random.Random) -> float:
        return 0.0 if self.mean == 0 else rng.expovariate(1.0 / self.mean)

    def median(self) -> float:
        return self.mean * math.log(2)

    def describe(self) -> str:
        return f"exp:{format_duration(self.mean)}"


NO_LATENCY = Fixed(delay=0.0)


def _duration(text: str, what: str) -> float:
    if text.strip().startswith("-"):
        raise ConfigError("a delay must not be negative", what=what, where=what, got=text.strip())
    return parse_duration(text, what=what)


def _pair(body: str, sep: str, what: str, text: str) -> tuple[str, str]:
    first, found, second = body.partition(sep)
    if not found or not first.strip() or not second.strip():
        raise ConfigError(what=what, where=what, expected=LATENCY_GRAMMAR, got=text)
    return first.strip(), second.strip()


def parse_latency(text: str | float | int, *, what: str = "latency") -> LatencyModel:
    """Build a model from the grammar in this module's docstring.

    A `ConfigError` is located at `what` (the caller's name for the value: a field, a key
    path), as `poolbench.units` does.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        return Fixed(delay=parse_duration(text, what=what))
    if not isinstance(text, str):
        raise ConfigError(what=what, where=what, expected=LATENCY_GRAMMAR, got=text)
    kind, colon, body = text.strip().partition(":")
    kind = kind.strip().lower()
    if not colon:
        return Fixed(delay=_duration(text, what))
    if kind == "fixed":
        return Fixed(delay=_duration(body, what))
    if kind == "uniform":
        low_text, high_text = _pair(body, "..", what, text)
        low, high = _duration(low_text, what), _duration(high_text, what)
        if high < low:
            raise ConfigError(
                "uniform upper bound below lower bound", what=what, where=what, got=text
            )
        return Uniform(low=low, high=high)
    if kind == "normal":
        mean_text, std_text = _pair(body, ",", what, text)
        return Normal(mean=_duration(mean_text, what), stddev=_duration(std_text, what))
    if kind == "lognormal":
        fields: dict[str, float] = {}
        for part in body.split(","):
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not eq or key not in ("median", "p99") or key in fields:
                raise ConfigError(
                    what=what, where=what, expected="lognormal:median=80ms,p99=400ms", got=text
                )
            fields[key] = _duration(value, what)
        if set(fields) != {"median", "p99"}:
            raise ConfigError(
                "lognormal needs both median= and p99=", what=what, where=what, got=text
            )
        if fields["median"] <= 0 or fields["p99"] < fields["median"]:
            raise ConfigError("lognormal needs 0 < median <= p99", what=what, where=what, got=text)
        return LogNormal(median_delay=fields["median"], p99=fields["p99"])
    if kind in ("exp", "exponential"):
        return Exponential(mean=_duration(body, what))
    raise ConfigError(
        f"unknown latency model {kind!r}; expected {LATENCY_GRAMMAR}",
        what=what,
        where=what,
        got=text,
    )
