"""Seeded fault decisions, the token-bucket rate limit and scheduled outages (all pure).

Clocks are injected: `TokenBucket` and `Outage` take "seconds since the server started"
or a monotonic reading from the caller, so tests drive them exactly.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from poolbench.errors import ConfigError
from poolbench.units import format_duration, parse_duration, parse_rate

# The SMTP commands a fault or a delay can be attached to ("greeting" is the 220 banner).
COMMANDS = ("greeting", "MAIL", "RCPT", "DATA")


class Fault(enum.Enum):
    TRANSIENT = "transient"  # 451 4.3.0
    PERMANENT = "permanent"  # 550 5.7.1
    DROP = "dropped"  # the connection is cut without a reply


def _probability(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(what=what, expected="a probability between 0 and 1", got=value)
    if not 0.0 <= float(value) <= 1.0:
        raise ConfigError("probability must be between 0 and 1", what=what, got=value)
    return float(value)


def normalize_command(name: str, *, what: str) -> str:
    """`mail` -> `MAIL`, `Greeting` -> `greeting`; anything else is a `ConfigError`."""
    for command in COMMANDS:
        if name.strip().lower() == command.lower():
            return command
    raise ConfigError(
        f"unknown SMTP step; expected one of {', '.join(COMMANDS)}", what=what, got=name
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Per-command probabilities of a 4xx, a 5xx or a dropped connection, plus AUTH failures.

    One uniform draw per command decides: below `drop` drops, then `transient`, then
    `permanent`; so the three are exclusive and must sum to at most 1.
    """

    transient: float = 0.0
    permanent: float = 0.0
    drop: float = 0.0
    commands: tuple[str, ...] = ("DATA",)
    auth_fail: float = 0.0  # correct credentials still refused with 535, with this chance

    def __post_init__(self) -> None:
        total = 0.0
        for name in ("transient", "permanent", "drop", "auth_fail"):
            value = _probability(getattr(self, name), f"faults.{name}")
            object.__setattr__(self, name, value)
            if name != "auth_fail":
                total += value
        if total > 1.0 + 1e-12:
            raise ConfigError(
                "transient + permanent + drop must not exceed 1", what="faults", got=total
            )
        commands = tuple(normalize_command(c, what="faults.commands") for c in self.commands)
        object.__setattr__(self, "commands", commands)

    @property
    def active(self) -> bool:
        return (self.transient + self.permanent + self.drop) > 0

    def decide(self, rng: random.Random) -> Fault | None:
        """The fault for one command, or None to answer normally."""
        u = rng.random()
        if u < self.drop:
            return Fault.DROP
        if u < self.drop + self.transient:
            return Fault.TRANSIENT
        if u < self.drop + self.transient + self.permanent:
            return Fault.PERMANENT
        return None


NO_FAULTS = FaultConfig()


class TokenBucket:
    """A token bucket: `rate` tokens per second, at most `burst` stored, starting full.

    `take(now)` uses the caller's monotonic time in seconds, so it is exact in tests.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, *, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError("needs rate > 0 and burst >= 1", what="rate_limit", got=(rate, burst))
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; False means the caller is over the limit."""
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now
        if self._tokens >= 1.0 - 1e-9:  # tolerate float drift from summing small refills
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """`rate` emails per second (counted at MAIL FROM) with bursts of up to `burst`."""

    rate: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigError(
                "needs rate > 0 and burst >= 1", what="rate_limit", got=(self.rate, self.burst)
            )


class OutageMode(enum.Enum):
    REJECT = "reject"  # 421 at connect, 451 to every command
    STALL = "stall"  # hold every reply until the window ends


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """From `start` to `end` seconds after the server started, reject or stall everything."""

    start: float
    end: float
    mode: OutageMode = OutageMode.REJECT

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ConfigError(
                "needs 0 <= start < end", what="outages", got=f"{self.start}..{self.end}"
            )

    def covers(self, elapsed: float) -> bool:
        return self.start <= elapsed < self.end

    def describe(self) -> str:
        return f"{self.mode.value}:{format_duration(self.start)}..{format_duration(self.end)}"


OUTAGE_GRAMMAR = "[reject:|stall:]START..END, e.g. 10s..15s or stall:2s..3s"


def parse_outage(text: str, *, what: str = "outages") -> Outage:
    """`10s..15s` (reject), `reject:10s..15s` or `stall:10s..15s`."""
    mode = OutageMode.REJECT
    head, colon, rest = text.strip().partition(":")
    if colon:
        try:
            mode = OutageMode(head.strip().lower())
        except ValueError:
            raise ConfigError(what=what, where=what, expected=OUTAGE_GRAMMAR, got=text) from None
        text_window = rest
    else:
        text_window = head
    start_text, dots, end_text = text_window.partition("..")
    if not dots:
        raise ConfigError(what=what, where=what, expected=OUTAGE_GRAMMAR, got=text)
    start, end = parse_duration(start_text, what=what), parse_duration(end_text, what=what)
    try:
        return Outage(start=start, end=end, mode=mode)
    except ConfigError as exc:
        raise exc.at(what) from exc


def parse_rate_limit(text: str, *, what: str = "rate_limit") -> RateLimit:
    """`500/s` or `500/s,burst=50` (burst defaults to one second's worth, at least 1)."""
    rate_text, comma, burst_text = text.partition(",")
    rate = parse_rate(rate_text, what=what)
    if not comma:
        return RateLimit(rate=rate, burst=max(1.0, rate))
    key, eq, value = burst_text.partition("=")
    if key.strip().lower() != "burst" or not eq:
        raise ConfigError(
            what=what, where=what, expected="RATE or RATE,burst=N like 500/s,burst=50", got=text
        )
    try:
        burst = float(value)
    except ValueError:
        raise ConfigError("burst must be a number", what=what, where=what, got=value) from None
    try:
        return RateLimit(rate=rate, burst=burst)
    except ConfigError as exc:
        raise exc.at(what) from exc
