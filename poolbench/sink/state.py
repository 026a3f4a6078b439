"""What the connections of one sink process share, whichever SMTP engine serves them.

The config, the seeded generator every latency and fault is drawn from, the counters,
the ledger, the rate-limit bucket, the connection set and the loop-lag probe (how late
this loop runs a due callback: its stamps can be at most that late; started with the
first connection, in the loop, and reported with the counters). Every decision (delay, fault,
outage, credentials) is made here, synchronously; the engines only apply the answers to
their replies, so both engines draw the same way from the same seed.
"""

from __future__ import annotations

import random
from typing import Protocol

from poolbench.metrics.clock import Clock, SystemClock
from poolbench.metrics.loop_lag import LoopLagProbe, counts_to_counters
from poolbench.sink.config import SinkConfig
from poolbench.sink.counters import RawCounters
from poolbench.sink.faults import Fault, OutageMode, TokenBucket
from poolbench.sink.ledger import ReceiptLog

REPLY_TRANSIENT = "451 4.3.0 Temporary failure (poolbench fault)"
REPLY_PERMANENT = "550 5.7.1 Rejected (poolbench fault)"
REPLY_RATE_LIMITED = "451 4.7.1 Rate limit exceeded, try again later"
REPLY_OUTAGE = "451 4.3.2 Service temporarily unavailable (poolbench outage)"
REPLY_GREETING_OUTAGE = "421 4.3.2 Service not available (poolbench outage)"
REPLY_OVER_CAPACITY = "421 4.7.0 Too many connections, try again later"
REPLY_GREETING_TRANSIENT = "421 4.3.0 Service not available (poolbench fault)"
REPLY_GREETING_PERMANENT = "554 5.3.2 No SMTP service here (poolbench fault)"
REPLY_AUTH_REQUIRED = "530 5.7.0 Authentication required"
REPLY_AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
REPLY_AUTH_OK = "235 2.7.0 Authentication successful"
REPLY_ACCEPTED = "250 2.0.0 OK"

STEP_NAMES = ("greeting", "MAIL", "RCPT", "DATA")


class SinkRawCounters(RawCounters):
    """The live counters, whose snapshot also carries the loop-lag histogram (as
    `loop_lag_b<bucket>` counts, which add up across processes)."""

    __slots__ = ("probe",)

    def __init__(self, probe: LoopLagProbe) -> None:
        super().__init__()
        self.probe = probe

    def snapshot(self) -> dict[str, int]:
        return {**super().snapshot(), **counts_to_counters(self.probe.counts)}


class Closable(Protocol):
    def close_connection(self) -> None:
        """Close this connection (the server is stopping)."""
        ...


class SinkState:
    """Shared by the connections of one server process (one event loop)."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        index: int = 0,
        ledger: ReceiptLog,
        clock: Clock | None = None,
        started: float | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        # Outage windows count from this monotonic instant (shared by all processes).
        self.started = self.clock.monotonic() if started is None else started
        self.rng = random.Random(config.seed * 1_000_003 + index)
        self.loop_lag = LoopLagProbe()
        self.counters: RawCounters = SinkRawCounters(self.loop_lag)
        self.ledger = ledger
        share = config.processes
        self.max_connections = (
            None if config.max_connections is None else config.max_connections // share
        )
        self.bucket = (
            None
            if config.rate_limit is None
            else TokenBucket(
                rate=config.rate_limit.rate / share,
                burst=max(1.0, config.rate_limit.burst / share),
                now=self.clock.monotonic(),
            )
        )
        self.latencies = {c: config.latency_for(c) for c in STEP_NAMES}
        self.faulted = frozenset(config.faults.commands) if config.faults.active else frozenset()
        self.connections: set[Closable] = set()

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def outage_mode(self) -> tuple[OutageMode, float] | None:
        """The current outage's mode and its end (seconds since start), if one is on."""
        if not self.config.outages:
            return None
        now = self.elapsed()
        for outage in self.config.outages:
            if outage.covers(now):
                return outage.mode, outage.end
        return None

    def outage_reply(self, command: str) -> tuple[str | None, float]:
        """During a reject outage (its reply, 0); during a stall (None, seconds to hold)."""
        outage = self.outage_mode()
        if outage is None:
            return None, 0.0
        mode, end = outage
        if mode is OutageMode.REJECT:
            self.counters.outage += 1
            return (REPLY_GREETING_OUTAGE if command == "greeting" else REPLY_OUTAGE), 0.0
        return None, max(0.0, end - self.elapsed())

    def take_token(self) -> bool:
        """False (and counted) when MAIL is over the rate limit."""
        if self.bucket is None or self.bucket.take(self.clock.monotonic()):
            return True
        self.counters.rate_limited += 1
        return False

    def delay(self, command: str) -> float:
        """Seconds to hold this step's reply (a draw from its latency model, or 0)."""
        model = self.latencies[command]
        return 0.0 if model is None else max(0.0, model.sample(self.rng))

    def fault(self, command: str) -> Fault | None:
        """The fault this step gets (counted), or None."""
        if command not in self.faulted:
            return None
        fault = self.config.faults.decide(self.rng)
        if fault is Fault.DROP:
            self.counters.dropped += 1
        elif fault is Fault.TRANSIENT:
            self.counters.transient += 1
        elif fault is Fault.PERMANENT:
            self.counters.permanent += 1
        return fault

    @staticmethod
    def fault_reply(command: str, fault: Fault) -> str:
        if fault is Fault.PERMANENT:
            return REPLY_GREETING_PERMANENT if command == "greeting" else REPLY_PERMANENT
        return REPLY_GREETING_TRANSIENT if command == "greeting" else REPLY_TRANSIENT

    def credentials_ok(self, login: bytes, password: bytes) -> bool:
        """Check AUTH credentials; a refusal (also by `auth_fail`) is counted."""
        auth = self.config.auth
        ok = auth is not None and login == auth.user.encode() and password == auth.password.encode()
        faults = self.config.faults
        if ok and faults.auth_fail and self.rng.random() < faults.auth_fail:
            ok = False
        if not ok:
            self.counters.auth += 1
        return ok

    def admit(self, connection: Closable) -> bool:
        """Count a new connection; False (and counted) when over the connection cap."""
        if not self.loop_lag.running:
            self.loop_lag.start()
        cap = self.max_connections
        counters = self.counters
        if cap is not None and counters.connections_open >= cap:
            counters.over_capacity += 1
            return False
        counters.connections_open += 1
        counters.connections_total += 1
        self.connections.add(connection)
        return True

    def release(self, connection: Closable) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.counters.connections_open -= 1
