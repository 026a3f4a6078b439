"""The aiosmtpd engine (the reference): a handler with the MAIL/RCPT/DATA hooks, and an
SMTP protocol subclass that adds the greeting step, the connection cap, connection
counting and the per-step stamps.

Every decision (latency, fault, outage, rate limit, credentials) is made by `SinkState`;
this module only applies it to aiosmtpd's replies. Delays are `await asyncio.sleep`.

Where the stamps are taken (aiosmtpd hides its I/O, so some are the nearest hook):
`connected_ns` in `connection_made`; a reply's stamp right after aiosmtpd's `push`
wrote it (before its drain); `mail_ns`/`rcpt_ns`/`data_ns` when aiosmtpd dispatches the
command (just after reading its line); `eod_ns` when the DATA hook starts, i.e. after
aiosmtpd has read the final "." line and joined the content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from poolbench.metrics.clock import stamp_ns
from poolbench.sink.config import SinkConfig
from poolbench.sink.faults import Fault
from poolbench.sink.headers import receipt_from_content
from poolbench.sink.receipt import Stamps, Steps
from poolbench.sink.state import (
    REPLY_ACCEPTED,
    REPLY_AUTH_INVALID,
    REPLY_AUTH_REQUIRED,
    REPLY_OVER_CAPACITY,
    REPLY_RATE_LIMITED,
    SinkState,
)

log = logging.getLogger(__name__)

# How long a dropped connection's handler waits to be cancelled by connection_lost.
_DROP_WAIT = 30.0


async def _hold(server: SinkSMTP, command: str, seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
        server.add_delay(command, seconds)


async def _outage(state: SinkState, server: SinkSMTP, command: str) -> str | None:
    """During a reject outage its reply; during a stall, wait for its end (then None)."""
    reply, stall = state.outage_reply(command)
    if reply is None:
        await _hold(server, command, stall)
    return reply


async def _after_outage(state: SinkState, server: SinkSMTP, command: str) -> str | None:
    """The delay and the fault of one step, once no outage holds it.

    A dropped connection is aborted here; connection_lost then cancels the handler task
    while it waits below, which ends the session the way a network failure would.
    """
    await _hold(server, command, state.delay(command))
    fault = state.fault(command)
    if fault is None:
        return None
    if fault is Fault.DROP:
        transport = server.transport
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        await asyncio.sleep(_DROP_WAIT)
    return state.fault_reply(command, fault)


async def _step(state: SinkState, server: SinkSMTP, command: str) -> str | None:
    reply = await _outage(state, server, command)
    if reply is not None:
        return reply
    return await _after_outage(state, server, command)


class SinkHandler:
    """aiosmtpd handler: only the hooks the sink needs (MAIL, RCPT, DATA)."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_MAIL(
        self,
        server: SinkSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> Any:
        state = self.state
        if state.config.auth is not None and not session.authenticated:
            state.counters.auth += 1
            return REPLY_AUTH_REQUIRED
        # The outage first: a MAIL refused by it must not spend a rate-limit token.
        reply = await _outage(state, server, "MAIL")
        if reply is not None:
            return reply
        if not state.take_token():
            return REPLY_RATE_LIMITED
        reply = await _after_outage(state, server, "MAIL")
        return MISSING if reply is None else reply

    async def handle_RCPT(
        self,
        server: SinkSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> Any:
        reply = await _step(self.state, server, "RCPT")
        return MISSING if reply is None else reply

    async def handle_DATA(self, server: SinkSMTP, session: Session, envelope: Envelope) -> str:
        server.mark_end_of_data()
        reply = await _step(self.state, server, "DATA")
        if reply is not None:
            return reply
        server.accept(envelope)
        return REPLY_ACCEPTED


class SinkSMTP(SMTP):
    """aiosmtpd's protocol plus the greeting step, the connection cap, counts and stamps."""

    def __init__(self, state: SinkState, tls_context: ssl.SSLContext | None) -> None:
        config: SinkConfig = state.config
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
            authenticator=self._authenticate_login,
        )
        self.sink_state = state
        self._counted = False
        self._over_capacity = False
        self._connected_ns: int | None = None
        self._greeting_ns: int | None = None
        self._last_reply_ns: int | None = None
        self._handshake_delay_ns = 0
        self._first_mail = True
        self._tx: Stamps | None = None
        self._accepted: tuple[bytes, str, tuple[str, ...]] | None = None

    def _authenticate_login(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.sink_state.credentials_ok(
            auth_data.login, auth_data.password
        )
        if not ok:
            return AuthResult(success=False, handled=False, message=REPLY_AUTH_INVALID)
        return AuthResult(success=True, auth_data=auth_data)

    def close_connection(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- counting -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._original_transport is None and not self._counted
        if first:
            self._connected_ns = stamp_ns()
            if self.sink_state.admit(self):
                self._counted = True
            else:
                self._over_capacity = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.sink_state.release(self)
        super().connection_lost(error)

    # -- stamps ---------------------------------------------------------------------
    async def push(self, status: Any) -> None:
        await super().push(status)
        # push() wrote before draining; a reply's stamp is taken as soon as it returns.
        now = self._last_reply_ns = stamp_ns()
        if status == REPLY_ACCEPTED:
            # Acceptances counted as written, apart from the receipts recorded in
            # smtp_DATA: the accounting cross-checks the two.
            self.sink_state.counters.received += 1
        if self._greeting_ns is None:
            self._greeting_ns = now
        tx = self._tx
        if tx is not None and not tx.data_reply_ns:
            text = status if isinstance(status, str) else bytes(status).decode("ascii", "replace")
            if text.startswith("354"):
                tx.data_reply_ns = now

    def add_delay(self, command: str, seconds: float) -> None:
        ns = int(seconds * 1e9)
        if command == "greeting":
            self._handshake_delay_ns += ns
        elif self._tx is not None:
            self._tx.delay_ns += ns

    def mark_end_of_data(self) -> None:
        if self._tx is not None:
            self._tx.eod_ns = stamp_ns()

    def accept(self, envelope: Envelope) -> None:
        self._accepted = (
            envelope.original_content or b"",
            envelope.mail_from or "",
            tuple(envelope.rcpt_tos),
        )

    def _take_accepted(self) -> tuple[bytes, str, tuple[str, ...]] | None:
        accepted, self._accepted = self._accepted, None
        return accepted

    async def smtp_MAIL(self, arg: str | None) -> None:
        now = stamp_ns()
        if self.envelope is not None and self.envelope.mail_from:
            await super().smtp_MAIL(arg)  # nested MAIL: aiosmtpd answers 503
            return
        tx = Stamps(now)
        if self._first_mail:
            self._first_mail = False
            tx.connected_ns = self._connected_ns
            tx.greeting_ns = self._greeting_ns
            tx.ready_ns = self._last_reply_ns
            tx.handshake_delay_ns = self._handshake_delay_ns
        self._tx = tx
        await super().smtp_MAIL(arg)
        if self.envelope is not None and self.envelope.mail_from:
            tx.mail_reply_ns = self._last_reply_ns or 0
        else:
            self._tx = None

    async def smtp_RCPT(self, arg: str | None) -> None:
        now = stamp_ns()
        tx = self._tx
        before = 0 if self.envelope is None else len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(arg)
        after = 0 if self.envelope is None else len(self.envelope.rcpt_tos)
        if tx is not None and not tx.rcpt_ns and after > before:
            tx.rcpt_ns = now
            tx.rcpt_reply_ns = self._last_reply_ns or 0

    async def smtp_DATA(self, arg: str) -> None:
        now = stamp_ns()
        tx = self._tx
        if tx is not None and tx.rcpt_ns:
            tx.data_ns = now
            tx.data_reply_ns = 0
        self._accepted = None
        await super().smtp_DATA(arg)
        accepted = self._take_accepted()
        if accepted is None:
            if tx is not None and tx.data_reply_ns:
                self._tx = None  # the transaction ended (refused after its data)
            return
        self._tx = None
        content, mail_from, rcpt_tos = accepted
        state = self.sink_state
        state.ledger.add(
            receipt_from_content(
                content,
                received_ns=self._last_reply_ns or stamp_ns(),
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                steps=None if tx is None else Steps.from_tuple(tx.steps_row()),
            )
        )

    async def smtp_RSET(self, arg: str) -> None:
        self._tx = None
        await super().smtp_RSET(arg)

    # -- greeting --------------------------------------------------------------------
    async def _handle_client(self) -> None:
        state = self.sink_state
        if self._over_capacity:
            await self._refuse(REPLY_OVER_CAPACITY)
            return
        reply = await _step(state, self, "greeting")
        if reply is not None:
            await self._refuse(reply)
            return
        await super()._handle_client()

    async def _refuse(self, reply: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self.push(reply)
        if self.transport is not None:
            self.transport.close()


# The overridden commands keep aiosmtpd's syntax metadata, which its HELP reads.
for _name in ("smtp_MAIL", "smtp_RCPT", "smtp_DATA", "smtp_RSET"):
    for _attr in ("__smtp_syntax__", "__smtp_syntax_extended__", "__smtp_syntax_when__"):
        setattr(getattr(SinkSMTP, _name), _attr, getattr(getattr(SMTP, _name), _attr))
