"""The consumer's health: `/healthz` (the event loop is alive) and `/readyz` (it can work).

The event loop publishes a `Pulse` (an immutable object swapped in whole) every
`BEAT_INTERVAL_S` from a small task of its own; the HTTP thread only reads the latest
pulse and compares its age with the clock, so a loop that is stuck (blocked by a
call that never returns, or starved) stops beating and `/healthz` answers 503.

`/readyz` answers 503 while no partition is assigned (before the first assignment, or a
consumer left idle by a group with more members than partitions), while shutting down,
and once the circuit breaker has not been closed for longer than its limit: an SMTP
outage that long is worth an operator's look, and a restart may help a consumer whose
connections are wedged. Served on the metrics port (metrics.py), so probes need no
second port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from poolbench.metrics.clock import Clock

BEAT_INTERVAL_S: Final = 0.5
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pulse:
    """What the loop last said: when, how many partitions, since when the breaker is
    not closed (None while closed), and whether it is shutting down."""

    beat_at: float
    partitions: int = 0
    breaker_open_since: float | None = None
    stopping: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    ok: bool
    reason: str


class Health:
    """Beaten by the event loop (`beat`), judged by the HTTP thread (`live`, `ready`)."""

    def __init__(self, *, stall_s: float, breaker_limit_s: float, clock: Clock) -> None:
        self._stall_s = stall_s
        self._breaker_limit_s = breaker_limit_s
        self._clock = clock
        # Alive from the start: connecting to Kafka happens before the loop's first beat.
        self._pulse = Pulse(beat_at=clock.monotonic())

    def beat(self, *, partitions: int, breaker_closed: bool, stopping: bool = False) -> None:
        """Called in the loop thread only."""
        now = self._clock.monotonic()
        since = self._pulse.breaker_open_since
        if breaker_closed:
            since = None
        elif since is None:
            since = now
        self._pulse = Pulse(
            beat_at=now, partitions=partitions, breaker_open_since=since, stopping=stopping
        )

    def live(self) -> Verdict:
        age = self._clock.monotonic() - self._pulse.beat_at
        if age > self._stall_s:
            return Verdict(ok=False, reason=f"event loop stalled: no heartbeat for {age:.1f}s")
        return Verdict(ok=True, reason=f"event loop alive (heartbeat {age:.1f}s ago)")

    def ready(self) -> Verdict:
        live = self.live()
        if not live.ok:
            return live
        pulse = self._pulse
        if pulse.stopping:
            return Verdict(ok=False, reason="shutting down")
        if pulse.partitions == 0:
            return Verdict(ok=False, reason="no partitions assigned")
        if pulse.breaker_open_since is not None:
            open_s = self._clock.monotonic() - pulse.breaker_open_since
            if open_s > self._breaker_limit_s:
                return Verdict(
                    ok=False,
                    reason=f"circuit breaker not closed for {open_s:.0f}s "
                    f"(limit {self._breaker_limit_s:g}s)",
                )
        return Verdict(ok=True, reason=f"{pulse.partitions} partition(s) assigned")


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def with_probes(health: Health, fallback: WsgiApp) -> WsgiApp:
    """A WSGI app answering `/healthz` and `/readyz` (200 or 503, a one-line reason),
    and everything else with `fallback` (the Prometheus exposition)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in (HEALTH_PATH, READY_PATH):
            return fallback(environ, start_response)
        verdict = health.live() if path == HEALTH_PATH else health.ready()
        body = (("ok: " if verdict.ok else "failing: ") + verdict.reason + "\n").encode()
        status = "200 OK" if verdict.ok else "503 Service Unavailable"
        start_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app
