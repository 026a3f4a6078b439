"""Retry timing and the SMTP circuit breaker; pure, with the randomness and the clock injected.

`Backoff` is exponential backoff with full jitter (AWS architecture blog, "Exponential
Backoff And Jitter"): attempt n waits uniform(0, min(max, base * 2**n)), which spreads the
retries of many workers instead of synchronising them.

`CircuitBreaker` stops an SMTP outage from burning the backlog into the dead-letter topic:
after `threshold` consecutive transient failures it opens (callers pause); after
`cooldown_s` it lets exactly one probe through (half-open); the probe's success closes it,
its failure reopens it for another cool-down. Permanent failures say nothing about the
server's health and are not counted (but a permanent reply to a probe shows the server is
up, so it closes the breaker). Every `allow()` that returned True must be followed by one
`record_*` call, or a half-open breaker waits for its probe forever.
"""

from __future__ import annotations

import enum
import logging
import random

from poolbench.metrics.clock import Clock

log = logging.getLogger(__name__)


class Backoff:
    """Full-jitter exponential backoff; deterministic for a seeded `rng`."""

    __slots__ = ("_base", "_max", "_rng")

    def __init__(self, base_s: float, max_s: float, rng: random.Random) -> None:
        if base_s < 0 or max_s < 0:
            raise ValueError(f"backoff bounds must not be negative: base={base_s}, max={max_s}")
        self._base = base_s
        self._max = max_s
        self._rng = rng

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry `attempt` (0 = the first retry)."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, got {attempt}")
        # Cap the exponent: 2**1100 overflows a float, and the cap is reached long before.
        return min(self._max, self._base * 2.0 ** min(attempt, 1000))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt`: uniform(0, ceiling(attempt))."""
        return self._rng.uniform(0.0, self.ceiling(attempt))


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive transient failures; probes after `cooldown_s`."""

    __slots__ = (
        "_clock",
        "_cooldown_s",
        "_failures",
        "_opened_at",
        "_probe_out",
        "_state",
        "_threshold",
        "last_cause",
        "opened_count",
    )

    def __init__(self, threshold: int, cooldown_s: float, clock: Clock) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown must not be negative, got {cooldown_s}")
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_out = False
        self.opened_count = 0
        self.last_cause = ""  # the latest failure's cause, for the "open" log line

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose cool-down has passed reads as HALF_OPEN."""
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() - self._opened_at >= self._cooldown_s
        ):
            self._change(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def remaining_cooldown(self) -> float:
        """Seconds until an open breaker allows a probe; 0 when not open."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown_s - self._clock.monotonic())

    def allow(self) -> bool:
        """May a send go ahead now? In HALF_OPEN, True for exactly one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probe_out = False
        if self._state is not BreakerState.CLOSED:
            self._change(BreakerState.CLOSED)

    def record_transient_failure(self) -> None:
        self._failures += 1
        tripped = self._state is BreakerState.CLOSED and self._failures >= self._threshold
        if tripped or self._state is BreakerState.HALF_OPEN:
            self._open()

    def record_permanent_failure(self) -> None:
        """The server answered; it is up. Ends a probe without changing the count."""
        if self._state is BreakerState.HALF_OPEN and self._probe_out:
            self._failures = 0
            self._probe_out = False
            self._change(BreakerState.CLOSED)

    def _open(self) -> None:
        self._opened_at = self._clock.monotonic()
        self._probe_out = False
        self.opened_count += 1
        self._change(BreakerState.OPEN)

    def _change(self, state: BreakerState) -> None:
        if state is self._state and state is not BreakerState.OPEN:
            return
        if state is BreakerState.OPEN:
            log.warning(
                "circuit breaker open after %d consecutive transient failures%s; pausing for %.3gs",
                self._failures,
                f" (last: {self.last_cause})" if self.last_cause else "",
                self._cooldown_s,
            )
        elif state is BreakerState.HALF_OPEN:
            log.info("circuit breaker half-open: probing the SMTP server")
        else:
            log.info("circuit breaker closed: the SMTP server answers again")
        self._state = state
