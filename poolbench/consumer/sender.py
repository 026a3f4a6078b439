"""Sending one email over SMTP with aiosmtplib, and sorting failures into transient and permanent.

With `connection_reuse` a sender keeps one connection (one sender per worker) and opens a
new one on the next send after any error; without it, each email gets its own connection
(connect, EHLO, [STARTTLS], [AUTH], MAIL, RCPT, DATA, QUIT), as the Go service does.
`local_hostname` is set so that no connection waits for a DNS lookup of our own name.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import ssl
from typing import Any

import aiosmtplib

from poolbench.consumer.settings import ConsumerSettings
from poolbench.errors import PermanentSendError, SendError, TransientSendError

log = logging.getLogger(__name__)


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

    def __init__(self, settings: ConsumerSettings, *, local_hostname: str | None = None) -> None:
        self._settings = settings
        self._local_hostname = local_hostname or socket.gethostname() or "localhost"
        self._client: _TrackingSMTP | None = None
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
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    client.close()

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
