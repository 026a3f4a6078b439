"""The aiosmtpd side: a handler with the MAIL/RCPT/DATA hooks and an SMTP protocol subclass
that adds the greeting step, the connection cap and connection counting.

Every decision (latency, fault, outage, rate limit) is made by the pure models in
`latency.py` and `faults.py`; this module only applies them to SMTP replies. Delays are
`await asyncio.sleep`, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from poolbench.metrics.clock import Clock, SystemClock
from poolbench.sink.config import SinkConfig
from poolbench.sink.faults import Fault, OutageMode, TokenBucket
from poolbench.sink.ledger import Ledger, RawCounters, receipt_from_content

log = logging.getLogger(__name__)

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

# How long a dropped connection's handler waits to be cancelled by connection_lost.
_DROP_WAIT = 30.0


class SinkState:
    """What the connections of one server process share: config, models, counters, ledger."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        index: int = 0,
        ledger: Ledger,
        clock: Clock | None = None,
        started: float | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        # Outage windows count from this monotonic instant (shared by all processes).
        self.started = self.clock.monotonic() if started is None else started
        self.rng = random.Random(config.seed * 1_000_003 + index)
        self.counters = RawCounters()
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
        self.latencies = {c: config.latency_for(c) for c in ("greeting", "MAIL", "RCPT", "DATA")}
        self.connections: set[SinkSMTP] = set()

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def outage_mode(self) -> tuple[OutageMode, float] | None:
        """The current outage's mode and its end (seconds since start), if one is on."""
        now = self.elapsed()
        for outage in self.config.outages:
            if outage.covers(now):
                return outage.mode, outage.end
        return None

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        auth = self.config.auth
        ok = (
            auth is not None
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == auth.user.encode()
            and auth_data.password == auth.password.encode()
        )
        if ok and self.config.faults.auth_fail and self.rng.random() < self.config.faults.auth_fail:
            ok = False
        if not ok:
            self.counters.auth += 1
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_INVALID)
        return AuthResult(success=True, auth_data=auth_data)

    async def step(self, server: SMTP, command: str) -> str | None:
        """Outage, delay and fault of one SMTP step: a reply replacing the normal one, or None.

        A dropped connection is aborted here; connection_lost then cancels the handler
        task while it waits below, which ends the session the way a network failure would.
        """
        reply = await self.outage(command)
        if reply is not None:
            return reply
        return await self.after_outage(server, command)

    async def outage(self, command: str) -> str | None:
        """During a reject outage its reply; during a stall, wait for its end (then None)."""
        outage = self.outage_mode()
        if outage is not None:
            mode, end = outage
            if mode is OutageMode.REJECT:
                self.counters.outage += 1
                return REPLY_GREETING_OUTAGE if command == "greeting" else REPLY_OUTAGE
            await asyncio.sleep(max(0.0, end - self.elapsed()))
        return None

    async def after_outage(self, server: SMTP, command: str) -> str | None:
        """The delay and the fault of one step, once no outage holds it."""
        model = self.latencies[command]
        if model is not None:
            delay = model.sample(self.rng)
            if delay > 0:
                await asyncio.sleep(delay)
        faults = self.config.faults
        if not faults.active or command not in faults.commands:
            return None
        fault = faults.decide(self.rng)
        if fault is None:
            return None
        if fault is Fault.DROP:
            self.counters.dropped += 1
            transport = server.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            await asyncio.sleep(_DROP_WAIT)
            return REPLY_TRANSIENT
        if fault is Fault.TRANSIENT:
            self.counters.transient += 1
            return REPLY_GREETING_TRANSIENT if command == "greeting" else REPLY_TRANSIENT
        self.counters.permanent += 1
        return REPLY_GREETING_PERMANENT if command == "greeting" else REPLY_PERMANENT


class SinkHandler:
    """aiosmtpd handler: only the hooks the sink needs (MAIL, RCPT, DATA)."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> Any:
        state = self.state
        if state.config.auth is not None and not session.authenticated:
            state.counters.auth += 1
            return REPLY_AUTH_REQUIRED
        # The outage first: a MAIL refused by it must not spend a rate-limit token.
        reply = await state.outage("MAIL")
        if reply is not None:
            return reply
        if state.bucket is not None and not state.bucket.take(state.clock.monotonic()):
            state.counters.rate_limited += 1
            return REPLY_RATE_LIMITED
        reply = await state.after_outage(server, "MAIL")
        return MISSING if reply is None else reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> Any:
        reply = await self.state.step(server, "RCPT")
        return MISSING if reply is None else reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        state = self.state
        reply = await state.step(server, "DATA")
        if reply is not None:
            return reply
        content = envelope.original_content or b""
        state.counters.received += 1
        state.ledger.add(
            receipt_from_content(
                content,
                received_ns=state.clock.wall_ns(),
                mail_from=envelope.mail_from or "",
                rcpt_tos=envelope.rcpt_tos,
            )
        )
        return "250 2.0.0 OK"


class SinkSMTP(SMTP):
    """aiosmtpd's protocol plus the greeting step, the connection cap and connection counts."""

    def __init__(self, state: SinkState, tls_context: ssl.SSLContext | None) -> None:
        config = state.config
        super().__init__(
            SinkHandler(state),
            hostname=config.hostname,
            data_size_limit=config.data_size_limit,
            tls_context=tls_context if config.tls == "starttls" else None,
            require_starttls=config.tls == "starttls",
            timeout=config.timeout,
            # The MAIL hook enforces AUTH itself; aiosmtpd's own flag would warn when TLS
            # is off, and refuses AUTH over implicit TLS if TLS is required.
            auth_required=False,
            auth_require_tls=False,
            authenticator=state.authenticate,
        )
        self.sink_state = state
        self._counted = False
        self._over_capacity = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._original_transport is None and not self._counted
        if first:
            state = self.sink_state
            cap = state.max_connections
            if cap is not None and state.counters.connections_open >= cap:
                self._over_capacity = True
            else:
                self._counted = True
                state.counters.connections_open += 1
                state.counters.connections_total += 1
                state.connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.sink_state.counters.connections_open -= 1
            self.sink_state.connections.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        state = self.sink_state
        if self._over_capacity:
            state.counters.over_capacity += 1
            await self._refuse(REPLY_OVER_CAPACITY)
            return
        reply = await state.step(self, "greeting")
        if reply is not None:
            await self._refuse(reply)
            return
        await super()._handle_client()

    async def _refuse(self, reply: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self.push(reply)
        if self.transport is not None:
            self.transport.close()
