"""Sending one email over SMTP, and sorting failures into transient and permanent.

Plain connections (no TLS, no AUTH: the common case, and the benchmark's) use the lean
client of smtp_client.py, with PIPELINING when the server offers it; TLS, STARTTLS and
AUTH go through aiosmtplib. With `connection_reuse` a sender keeps one connection (one
sender per worker) and opens a new one on the next send after any error; without it,
each email gets its own connection (connect, EHLO, [STARTTLS], [AUTH], MAIL, RCPT, DATA,
QUIT), as the Go service does.
`local_hostname` is set so that no connection waits for a DNS lookup of our own name,
and the lean client connects to addresses looked up once per process (resolver.py), so
that no connection waits for a lookup of the server's name either.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import socket
import ssl
from email.utils import parseaddr
from typing import Any, Final

import aiosmtplib

from poolbench.consumer.resolver import SHARED, HostResolver
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.smtp_client import LeanSmtpConnection, SmtpReplyError, prepare_data
from poolbench.errors import PermanentSendError, SendError, TransientSendError

log = logging.getLogger(__name__)

# An address that needs no parsing: the envelope carries it as it is.
_PLAIN_ADDRESS: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class SendOutcome(enum.Enum):
    """How one send attempt ended, for counters and logs."""

    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"

    @classmethod
    def of(cls, error: BaseException | None) -> SendOutcome:
        if error is None:
            return cls.SENT
        if isinstance(error, PermanentSendError):
            return cls.PERMANENT
        return cls.TRANSIENT


class SmtpSender:
    """Sends messages to the configured SMTP server; not shared between workers when reusing."""

    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        local_hostname: str | None = None,
        resolver: HostResolver | None = None,
    ) -> None:
        self._settings = settings
        self._resolver = SHARED if resolver is None else resolver
        self._local_hostname = local_hostname or socket.gethostname() or "localhost"
        self._client: _TrackingSMTP | None = None
        self._lean_mode = settings.smtp_security == "none" and not settings.smtp_user
        self._lean: LeanSmtpConnection | None = None
        self._lock = asyncio.Lock()
        self.connections_opened = 0
        # Kept connections found closed at MAIL and replaced without an error (see send).
        self.stale_reconnects = 0

    async def send(self, mail_from: str, rcpt_to: str, message: bytes) -> None:
        """Deliver `message`; raises `TransientSendError` or `PermanentSendError`."""
        for address in (mail_from, rcpt_to):
            if not address.isascii():
                # Would need SMTPUTF8 (RFC 6531), which poolbench does not negotiate.
                raise PermanentSendError(f"non-ASCII address needs SMTPUTF8: {address!r}")
        if self._lean_mode:
            await self._send_lean(_envelope(mail_from), _envelope(rcpt_to), prepare_data(message))
            return
        if not self._settings.connection_reuse:
            await self._send_once(mail_from, rcpt_to, message)
            return
        async with self._lock:
            for attempt in range(2):
                fresh = self._client is None or not self._client.is_connected
                client = self._client
                try:
                    if client is None or fresh:
                        client = self._client = await self._connect()
                    client.mail_accepted = False
                    await client.sendmail(mail_from, [rcpt_to], message)
                except BaseException as exc:
                    error = _classify(exc)
                    # A refusal by the server leaves a healthy connection (aiosmtplib sent
                    # RSET); anything else, even a permanent error raised on our side in
                    # mid-transaction, may have left it in an unknown state: start afresh.
                    if not _server_refused(exc):
                        await self._drop()
                    stale = (
                        attempt == 0
                        and not fresh
                        and client is not None
                        and not client.mail_accepted
                        and isinstance(exc, ConnectionError)
                    )
                    if stale:
                        # The server closed the idle kept connection before our MAIL: that
                        # says nothing about this email, so try once more on a new one.
                        # Once MAIL is accepted the transaction has started, and a cut
                        # connection is this email's failure, counted by the caller.
                        log.debug("kept SMTP connection was closed; reconnecting")
                        self.stale_reconnects += 1
                        continue
                    if error is None:
                        raise
                    raise error from exc
                return

    async def close(self) -> None:
        """QUIT and close the kept connection, if any; never raises for a dead connection."""
        async with self._lock:
            lean, self._lean = self._lean, None
            if lean is not None:
                await lean.quit()
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    client.close()

    async def _send_lean(self, mail_from: bytes, rcpt_to: bytes, data: bytes) -> None:
        if not self._settings.connection_reuse:
            connection: LeanSmtpConnection | None = None
            try:
                connection = await self._open_lean()
                await connection.send(mail_from, rcpt_to, data, quit=True)
            except BaseException as exc:
                if connection is not None:
                    connection.close()
                error = _classify_lean(exc)
                if error is None:
                    raise
                raise error from exc
            return
        async with self._lock:
            for attempt in range(2):
                kept = self._lean
                fresh = kept is None or not kept.is_connected
                connection = kept
                try:
                    if connection is None or fresh:
                        if kept is not None:
                            kept.close()
                        self._lean = None
                        connection = self._lean = await self._open_lean()
                    await connection.send(mail_from, rcpt_to, data, quit=False)
                except BaseException as exc:
                    if connection is not None and not connection.is_connected:
                        self._lean = None
                    if (
                        attempt == 0
                        and not fresh
                        and connection is not None
                        and not connection.mail_answered
                        and isinstance(exc, ConnectionError)
                    ):
                        # As with aiosmtplib below: closed while idle, before our MAIL.
                        log.debug("kept SMTP connection was closed; reconnecting")
                        self.stale_reconnects += 1
                        continue
                    error = _classify_lean(exc)
                    if error is None:
                        raise
                    raise error from exc
                return

    async def _open_lean(self) -> LeanSmtpConnection:
        settings = self._settings
        host, port = settings.smtp_host, settings.smtp_port
        addresses = await self._resolver.addresses(host, port)
        try:
            connection = await LeanSmtpConnection.open(
                addresses,
                port,
                local_hostname=self._local_hostname,
                timeout_s=settings.smtp_timeout_s,
            )
        except OSError:
            self._resolver.forget(host, port)
            raise
        self._resolver.prefer(host, port, connection.address)
        self.connections_opened += 1
        return connection

    async def _send_once(self, mail_from: str, rcpt_to: str, message: bytes) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            client = await self._connect()
            await client.sendmail(mail_from, [rcpt_to], message)
        except BaseException as exc:
            if client is not None:
                client.close()
            error = _classify(exc)
            if error is None:
                raise
            raise error from exc
        try:
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            # The email was accepted; a failed goodbye does not change that.
            client.close()

    async def _connect(self) -> _TrackingSMTP:
        settings = self._settings
        client = _TrackingSMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            local_hostname=self._local_hostname,
            timeout=settings.smtp_timeout_s,
            use_tls=settings.smtp_security == "tls",
            # False, not None: None would upgrade silently whenever the server offers it.
            start_tls=settings.smtp_security == "starttls",
            validate_certs=settings.smtp_verify_tls,
            username=settings.smtp_user or None,
            password=settings.smtp_password if settings.smtp_user else None,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        self.connections_opened += 1
        log.debug("connected to %s:%d", settings.smtp_host, settings.smtp_port)
        return client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class _TrackingSMTP(aiosmtplib.SMTP):
    """An SMTP client that remembers whether the server accepted MAIL (the transaction began)."""

    mail_accepted = False

    async def mail(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().mail(*args, **kwargs)
        self.mail_accepted = True
        return response


def _envelope(address: str) -> bytes:
    """The address as MAIL FROM / RCPT TO carry it (inside `<>`); parsed only if needed."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return address.encode("ascii")
    parsed = "" if _CONTROL.search(address) else parseaddr(address)[1]
    if not parsed or any(c in parsed for c in "<> "):
        raise PermanentSendError(f"bad address: {address!r}", code=None, reply="")
    return parsed.encode("ascii")


def _classify_lean(exc: BaseException) -> SendError | None:
    """The poolbench error for a lean-client failure; None for what must propagate as is."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, SmtpReplyError):
        what = "recipient refused" if exc.step == "RCPT" else f"{exc.step} refused"
        return _by_code(exc.code, exc.text, what)
    if isinstance(exc, TimeoutError):
        return TransientSendError(f"TimeoutError: {exc}", code=None, reply=str(exc))
    if isinstance(exc, OSError):
        return TransientSendError(f"{type(exc).__name__}: {exc}", code=None, reply=str(exc))
    return None


def _server_refused(exc: BaseException) -> bool:
    """A 5xx/4xx reply inside a transaction, after which aiosmtplib has sent RSET."""
    return (
        isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPResponseException)
        and not isinstance(exc, aiosmtplib.SMTPServerDisconnected)
        and getattr(exc, "code", None) != 421
    )


def _classify(exc: BaseException) -> SendError | None:
    """The poolbench error for an aiosmtplib/OS failure; None for what must propagate as is."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0] if exc.recipients else None
        code = refused.code if refused is not None else None
        reply = refused.message if refused is not None else str(exc)
        return _by_code(code, reply, "recipient refused")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, exc.message, type(exc).__name__)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentSendError(f"not supported by the server: {exc}", code=None, reply=str(exc))
    if isinstance(exc, ValueError):
        # aiosmtplib refuses addresses it cannot send safely before talking to the server.
        return PermanentSendError(f"bad address: {exc}", code=None, reply=str(exc))
    if isinstance(exc, ssl.SSLError | aiosmtplib.SMTPException | OSError | TimeoutError):
        return TransientSendError(f"{type(exc).__name__}: {exc}", code=None, reply=str(exc))
    return None


def _by_code(code: int | None, reply: str, what: str) -> SendError:
    text = f"{what}: {code} {reply}".strip()
    if code is not None and 400 <= code < 500:
        return TransientSendError(text, code=code, reply=reply)
    if code is not None and 500 <= code < 600:
        return PermanentSendError(text, code=code, reply=reply)
    return TransientSendError(text, code=code, reply=reply)
