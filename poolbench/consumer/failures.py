"""Why SMTP sends fail, in words an operator can act on, at most one line per cause a second.

A consumer pointed at a closed port used to log only "circuit breaker open after N
consecutive transient failures", forever. Each failed attempt is classed (4xx, 5xx,
timeout, refused, other: the Prometheus counter's label) and described with its target:
"connection refused by 127.0.0.1:1". The first failure of a cause is logged at once;
more of the same within a second are counted and reported with the next line.

Only the failure path comes here: a successful send costs nothing.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field

from poolbench.errors import SendError
from poolbench.metrics.clock import Clock, SystemClock

log = logging.getLogger("poolbench.consumer.smtp")

RATE_LIMIT_S = 1.0


def failure_class(exc: SendError) -> str:
    """`4xx`, `5xx`, `timeout`, `refused` or `other`."""
    code = exc.code
    if code is not None and 400 <= code < 500:
        return "4xx"
    if code is not None and 500 <= code < 600:
        return "5xx"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return "timeout"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if text.startswith("TimeoutError") or "timed out" in text.lower():
        return "timeout"
    if "ConnectionRefusedError" in text or "Connection refused" in text:
        return "refused"
    return "other"


def describe(exc: SendError, kind: str, target: str) -> str:
    """The cause and the target, e.g. `connection refused by 127.0.0.1:1`."""
    if kind == "refused":
        return f"connection refused by {target}"
    if kind == "timeout":
        return f"no answer from {target} in time ({exc})"
    if kind in ("4xx", "5xx"):
        return f"{target} replied {exc}"
    return f"sending to {target} failed: {exc}"


@dataclass(slots=True)
class _Cause:
    last_logged: float
    suppressed: int = 0


@dataclass(slots=True)
class FailureLog:
    """Counts failures by class and logs their causes, rate-limited per cause."""

    target: str  # host:port of the SMTP server
    counts: dict[str, int]  # by class, e.g. LiveCounters.failures_by_class
    clock: Clock = field(default_factory=SystemClock)
    interval_s: float = RATE_LIMIT_S
    _causes: dict[tuple[str, int | None], _Cause] = field(default_factory=dict)
    last_cause: str = ""

    def record(self, exc: SendError, *, permanent: bool) -> str:
        """Count and maybe log one failed attempt; its description."""
        kind = failure_class(exc)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        text = describe(exc, kind, self.target)
        self.last_cause = text
        key = (kind, exc.code)
        now = self.clock.monotonic()
        cause = self._causes.get(key)
        if cause is not None and now - cause.last_logged < self.interval_s:
            cause.suppressed += 1
            return text
        more = ""
        if cause is not None and cause.suppressed:
            more = f" (+{cause.suppressed} more like it since the last line)"
        self._causes[key] = _Cause(last_logged=now)
        level = logging.ERROR if permanent else logging.WARNING
        what = "permanent" if permanent else "transient"
        log.log(level, "SMTP send failed (%s, %s): %s%s", kind, what, text, more)
        return text
