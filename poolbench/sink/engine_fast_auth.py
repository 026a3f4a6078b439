"""AUTH (PLAIN, LOGIN) and STARTTLS for the fast SMTP engine, as a mixin of its session.

`engine_fast.FastSMTP` is the SMTP state machine; this module holds the two dialogues
that step outside the command/reply rhythm: AUTH's challenge lines (the session's mode
says which answer comes next) and the TLS upgrade (bytes pipelined behind STARTTLS are
discarded, RFC 3207). Split from the engine so that its module stays the per-email
path; the session's other attributes are declared here for the type checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol

from poolbench.sink import session
from poolbench.sink.state import REPLY_AUTH_INVALID, REPLY_AUTH_OK, SinkState

# Session modes: what the next bytes are. Below MODE_TLS the session reads lines.
(
    MODE_COMMAND,
    MODE_SKIP,
    MODE_DATA,
    MODE_AUTH_PLAIN,
    MODE_AUTH_USER,
    MODE_AUTH_PASSWORD,
    MODE_TLS,
    MODE_CLOSED,
) = range(8)

_AUTH_INVALID = session.reply(REPLY_AUTH_INVALID)
_AUTH_OK = session.reply(REPLY_AUTH_OK)


class _TlsShared(Protocol):
    """What the dialogues need of the server's shared part (`engine_fast.FastShared`)."""

    @property
    def starttls(self) -> ssl.SSLContext | None: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


class AuthAndTls(asyncio.Protocol):
    """The AUTH and STARTTLS commands of one session: the base of `engine_fast.FastSMTP`.

    Its slots are the ones these dialogues assign; the other attributes annotated here
    are FastSMTP's slots, read by the dialogues."""

    __slots__ = ("_auth_login", "_authenticated", "_mode", "_tls", "_transport")

    _out: list[bytes]
    _mode: int
    _helo: str | None
    _esmtp: bool
    _tls: bool
    _authenticated: bool
    _auth_login: bytes
    _transport: asyncio.Transport | None
    _state: SinkState
    _shared: _TlsShared

    def _flush(self) -> None:
        """Write the replies gathered so far (the session's)."""
        raise NotImplementedError

    def _new_session(self) -> None:
        """Forget HELO and any transaction, read commands again (the session's)."""
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        raise NotImplementedError

    # -- AUTH ------------------------------------------------------------------------
    def _auth(self, arg: str) -> None:
        out = self._out
        if self._helo is None:
            out.append(session.send_helo_first("EHLO"))
            return
        if not self._esmtp:
            out.append(session.AUTH_NOT_RECOGNIZED)
            return
        if self._authenticated:
            out.append(session.AUTH_ALREADY)
            return
        args = arg.split()
        if not args:
            out.append(session.AUTH_NO_VALUE)
            return
        if len(args) > 2:
            out.append(session.AUTH_TOO_MANY)
            return
        mechanism = args[0].upper()
        if mechanism == "PLAIN":
            if len(args) == 1:
                out.append(session.AUTH_PLAIN_CHALLENGE)
                self._mode = MODE_AUTH_PLAIN
            else:
                self._auth_plain(args[1].encode())
        elif mechanism == "LOGIN":
            if len(args) == 1:
                out.append(session.AUTH_USER_CHALLENGE)
                self._mode = MODE_AUTH_USER
            else:
                login = session.decode_base64(args[1])
                if login is None:
                    out.append(session.AUTH_BAD_BASE64)
                else:
                    self._auth_login = login
                    out.append(session.AUTH_PASSWORD_CHALLENGE)
                    self._mode = MODE_AUTH_PASSWORD
        else:
            out.append(session.AUTH_MECHANISM)

    def _auth_line(self, blob: bytes) -> None:
        mode = self._mode
        self._mode = MODE_COMMAND
        if blob == b"*":
            self._out.append(session.AUTH_ABORTED)
            return
        if mode == MODE_AUTH_PLAIN:
            self._auth_plain(blob)
            return
        decoded = session.decode_base64(blob)
        if decoded is None:
            self._out.append(session.AUTH_BAD_BASE64)
        elif mode == MODE_AUTH_USER:
            self._auth_login = decoded
            self._out.append(session.AUTH_PASSWORD_CHALLENGE)
            self._mode = MODE_AUTH_PASSWORD
        else:
            self._auth_result(self._auth_login, decoded)

    def _auth_plain(self, text: bytes) -> None:
        decoded = session.decode_base64(text)
        if decoded is None:
            self._out.append(session.AUTH_BAD_BASE64)
            return
        pair = session.split_plain(decoded)
        if pair is None:
            self._out.append(session.AUTH_BAD_SPLIT)
            return
        self._auth_result(*pair)

    def _auth_result(self, login: bytes, password: bytes) -> None:
        if self._state.credentials_ok(login, password):
            self._authenticated = True
            self._out.append(_AUTH_OK)
        else:
            self._out.append(_AUTH_INVALID)

    # -- STARTTLS --------------------------------------------------------------------
    def _starttls(self, arg: str) -> None:
        context = self._shared.starttls
        if arg:
            self._out.append(session.syntax_error("STARTTLS"))
            return
        if context is None or self._tls:
            self._out.append(session.TLS_UNAVAILABLE)
            return
        self._out.append(session.START_TLS)
        self._flush()
        self._mode = MODE_TLS  # bytes pipelined behind STARTTLS are discarded (RFC 3207)
        self._shared.loop.create_task(self._upgrade(context))

    async def _upgrade(self, context: ssl.SSLContext) -> None:
        transport = self._transport
        assert transport is not None
        try:
            upgraded = await self._shared.loop.start_tls(transport, self, context, server_side=True)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.CancelledError):
            with contextlib.suppress(Exception):
                transport.abort()
            self.connection_lost(None)
            return
        if upgraded is None or self._mode == MODE_CLOSED:
            return
        self._transport = upgraded
        self._tls = True
        self._new_session()
