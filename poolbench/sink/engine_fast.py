"""The fast SMTP engine: one `asyncio.Protocol` per connection, driven by callbacks.

`data_received` splits lines itself and answers every complete command in it; replies
are gathered and written once per callback (so a pipelined MAIL/RCPT/DATA gets its
three replies in one write, in order). A delayed reply holds the session: the buffered
commands behind it wait for a `loop.call_later` timer, not a task. No per-line logging.

Stamps are one `time.time_ns()` per event: one when a packet arrives (every command in
it shares it), one after each write (every reply in it shares it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import cast

from poolbench.sink import session as s
from poolbench.sink.faults import Fault
from poolbench.sink.ledger import ReceiptRow, StepsRow, content_fields
from poolbench.sink.state import (
    REPLY_ACCEPTED,
    REPLY_AUTH_INVALID,
    REPLY_AUTH_OK,
    REPLY_AUTH_REQUIRED,
    REPLY_OVER_CAPACITY,
    REPLY_RATE_LIMITED,
    SinkState,
)

# Session modes: what the next bytes are.
_COMMAND, _SKIP, _DATA, _AUTH_PLAIN, _AUTH_USER, _AUTH_PASSWORD, _TLS, _CLOSED = range(8)
# What a write's stamp goes to.
_W_MAIL, _W_RCPT, _W_DATA, _W_READY, _W_RECEIPT = range(5)
_NOMINAL, _DATA_TOO_LONG, _DATA_TOO_MUCH = range(3)
_PAUSE_AT = 1 << 16  # bytes buffered behind a held reply before reading pauses

_ACCEPTED = s.reply(REPLY_ACCEPTED)
_AUTH_REQUIRED = s.reply(REPLY_AUTH_REQUIRED)
_AUTH_INVALID = s.reply(REPLY_AUTH_INVALID)
_AUTH_OK = s.reply(REPLY_AUTH_OK)
_RATE_LIMITED = s.reply(REPLY_RATE_LIMITED)
_OVER_CAPACITY = s.reply(REPLY_OVER_CAPACITY)


class FastShared:
    """What the connections of one fast server share: state and prebuilt replies."""

    def __init__(self, state: SinkState, starttls: ssl.SSLContext | None) -> None:
        config = state.config
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.starttls = starttls
        self.size_limit = config.data_size_limit
        self.hostname = config.hostname
        self.greeting = s.reply(f"220 {config.hostname} ESMTP poolbench")
        self.helo = s.reply(f"250 {config.hostname}")
        self.ehlo = s.ehlo_reply(config.hostname, size_limit=config.data_size_limit, starttls=False)
        self.ehlo_starttls = s.ehlo_reply(
            config.hostname, size_limit=config.data_size_limit, starttls=True
        )
        self.auth_required = config.auth is not None
        self.timeout_ns = int(config.timeout * 1e9)
        # Steps with nothing to decide (no outage, delay or fault): answered inline,
        # without drawing or building a continuation.
        self.instant = frozenset(
            command
            for command in ("MAIL", "RCPT", "DATA")
            if not config.outages
            and state.latencies[command] is None
            and command not in state.faulted
        )


class _Transaction:
    """One transaction in progress: envelope and stamps (see `Steps`)."""

    __slots__ = (
        "connected_ns",
        "data_ns",
        "data_reply_ns",
        "delay_ns",
        "eod_ns",
        "greeting_ns",
        "handshake_delay_ns",
        "mail_from",
        "mail_ns",
        "mail_reply_ns",
        "rcpt_ns",
        "rcpt_reply_ns",
        "rcpt_tos",
        "ready_ns",
    )

    def __init__(self, mail_from: str, mail_ns: int) -> None:
        self.mail_from = mail_from
        self.rcpt_tos: list[str] = []
        self.connected_ns: int | None = None
        self.greeting_ns: int | None = None
        self.ready_ns: int | None = None
        self.mail_ns = mail_ns
        self.mail_reply_ns = 0
        self.rcpt_ns = 0
        self.rcpt_reply_ns = 0
        self.data_ns = 0
        self.data_reply_ns = 0
        self.eod_ns = 0
        self.delay_ns = 0
        self.handshake_delay_ns = 0

    def steps_row(self) -> StepsRow:
        """`Steps.as_tuple()` of this transaction, without building the dataclass."""
        return (
            self.connected_ns,
            self.greeting_ns,
            self.ready_ns,
            self.mail_ns,
            self.mail_reply_ns,
            self.rcpt_ns,
            self.rcpt_reply_ns,
            self.data_ns,
            self.data_reply_ns,
            self.eod_ns,
            self.delay_ns,
            self.handshake_delay_ns,
        )


class FastSMTP(asyncio.Protocol):
    """One SMTP session."""

    # Slots: less memory per open connection, faster attribute access.
    __slots__ = (
        "_auth_login",
        "_authenticated",
        "_bogus",
        "_connected_ns",
        "_counted",
        "_data",
        "_data_scan",
        "_data_state",
        "_esmtp",
        "_first_mail",
        "_greeting_ns",
        "_handshake_delay_ns",
        "_held",
        "_helo",
        "_last_reply_ns",
        "_mode",
        "_out",
        "_paused",
        "_receipts",
        "_rest",
        "_shared",
        "_state",
        "_tls",
        "_transport",
        "_tx",
        "_waits",
        "last_active_ns",
    )

    def __init__(self, shared: FastShared) -> None:
        self._shared = shared
        self._state = shared.state
        self._transport: asyncio.Transport | None = None
        self._mode = _COMMAND
        self._rest = b""  # command bytes after the last complete line
        self._data = bytearray()  # DATA content so far, after a leading CRLF
        self._data_scan = 0
        self._data_state = _NOMINAL
        self._out: list[bytes] = []
        self._waits: list[tuple[int, _Transaction]] = []
        self._receipts: list[tuple[_Transaction, bytes]] = []
        self._held: asyncio.TimerHandle | None = None
        self._paused = False
        self._counted = False
        self._helo: str | None = None
        self._esmtp = False
        self._tls = False
        self._authenticated = False
        self._auth_login = b""
        self._bogus = 0
        self._tx: _Transaction | None = None
        self._first_mail = True
        self._connected_ns: int | None = None
        self._greeting_ns: int | None = None
        self._last_reply_ns: int | None = None
        self._handshake_delay_ns = 0
        self.last_active_ns = 0

    # -- connection ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        now = self.last_active_ns = self._connected_ns = time.time_ns()
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        state = self._state
        if not state.admit(self):
            self._refuse(_OVER_CAPACITY)
            return
        self._counted = True
        self._greet(now)

    def connection_lost(self, exc: Exception | None) -> None:
        self._mode = _CLOSED
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._out.clear()
        self._receipts.clear()
        self._tx = None
        if self._counted:
            self._counted = False
            self._state.release(self)

    def close_connection(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _refuse(self, reply: bytes) -> None:
        self._out.append(reply)
        self._flush()
        self._close()

    def _close(self) -> None:
        self._mode = _CLOSED
        if self._transport is not None:
            self._transport.close()

    def _drop(self) -> None:
        self._mode = _CLOSED
        self._out.clear()
        if self._transport is not None:
            self._transport.abort()

    def _greet(self, now: int) -> None:
        state = self._state
        reply, stall = state.outage_reply("greeting")
        if reply is not None:
            self._refuse(s.reply(reply))
            return
        if stall > 0:
            self._handshake_delay_ns += int(stall * 1e9)
            self._hold(stall, self._greet_after_outage)
            return
        self._greet_after_outage()

    def _greet_after_outage(self) -> None:
        state = self._state
        delay = state.delay("greeting")
        fault = state.fault("greeting")
        self._handshake_delay_ns += int(delay * 1e9)
        if delay > 0:
            self._hold(delay, lambda: self._greeting_outcome(fault))
        else:
            self._greeting_outcome(fault)

    def _greeting_outcome(self, fault: Fault | None) -> None:
        if fault is Fault.DROP:
            self._drop()
        elif fault is not None:
            self._refuse(s.reply(self._state.fault_reply("greeting", fault)))
        else:
            self._out.append(self._shared.greeting)
            self._flush()
            self._greeting_ns = self._last_reply_ns

    # -- input -----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        now = self.last_active_ns = time.time_ns()
        mode = self._mode
        if mode == _DATA:
            self._data += data
            if self._held is None:
                self._feed_data(now)
        elif mode < _TLS:
            if (
                mode == _COMMAND
                and not self._rest
                and self._held is None
                and data.endswith(b"\r\n")
                and data.find(b"\n") == len(data) - 1
                and len(data) <= s.LINE_BUFFER_LIMIT
            ):
                self._command(data[:-2], now)  # one whole command: the common case
            else:
                self._rest = self._rest + data if self._rest else data
                if self._held is None:
                    self._process(now)
                elif len(self._rest) > _PAUSE_AT and not self._paused and self._transport:
                    self._paused = True
                    self._transport.pause_reading()
        if self._out:
            self._flush()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def _process(self, now: int) -> None:
        """Answer every complete line buffered, until a reply is held or DATA begins."""
        buf = self._rest
        pos = 0
        while self._held is None:
            mode = self._mode
            if mode == _DATA:
                # The rest is content; what follows its end comes back via _feed_data.
                self._data += buf[pos:]
                self._rest = b""
                self._feed_data(now)
                return
            if mode >= _TLS:
                pos = len(buf)  # nothing is read while TLS starts or after close
                break
            end = buf.find(b"\n", pos)
            if end < 0:
                if len(buf) - pos > s.LINE_BUFFER_LIMIT:
                    # An overlong line: forget it as it comes, answer at its end.
                    pos = len(buf)
                    self._mode = _SKIP
                break
            line = buf[pos:end]
            pos = end + 1
            if mode == _SKIP:
                self._mode = _COMMAND
                self._out.append(s.TOO_LONG)
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if mode == _COMMAND:
                self._command(line, now)
            else:
                self._auth_line(line.strip())
        self._rest = buf[pos:] if pos < len(buf) else b""

    def _feed_data(self, now: int) -> None:
        """Look for the end of DATA; keep memory bounded while it is not there."""
        data = self._data
        end = data.find(b"\r\n.\r\n", self._data_scan)
        if end < 0:
            if self._data_state == _NOMINAL:
                last = data.rfind(b"\r\n")
                if len(data) - 2 > self._shared.size_limit:
                    self._data_state = _DATA_TOO_MUCH
                elif len(data) - last - 2 > s.LINE_BUFFER_LIMIT:
                    self._data_state = _DATA_TOO_LONG
            if self._data_state != _NOMINAL and len(data) > 4:
                del data[:-4]  # refused already: keep only what may start the end mark
            self._data_scan = max(0, len(data) - 4)
            return
        content = bytes(data[2 : end + 2])
        rest = bytes(data[end + 5 :])
        data.clear()
        self._data_scan = 0
        self._mode = _COMMAND
        self._end_of_data(content, now)
        if rest:
            self._rest = rest + self._rest if self._rest else rest
            if self._held is None:
                self._process(now)

    # -- output ----------------------------------------------------------------------
    def _flush(self) -> None:
        out = self._out
        if not out or self._transport is None:
            return
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()
        now = self._last_reply_ns = time.time_ns()
        if self._waits:
            for what, tx in self._waits:
                if what == _W_MAIL:
                    tx.mail_reply_ns = now
                elif what == _W_RCPT:
                    tx.rcpt_reply_ns = now
                elif what == _W_DATA:
                    tx.data_reply_ns = now
                else:
                    tx.ready_ns = now
            self._waits.clear()
        if self._receipts:
            self._record(now)

    def _record(self, now: int) -> None:
        rows: list[ReceiptRow] = []
        for tx, content in self._receipts:
            message_id, intended_ns, started_ns = content_fields(content)
            rows.append(
                (
                    message_id,
                    intended_ns,
                    started_ns,
                    now,
                    tx.mail_from,
                    tuple(tx.rcpt_tos),
                    len(content),
                    tx.steps_row(),
                )
            )
        self._receipts.clear()
        self._state.counters.received += len(rows)
        self._state.ledger.add_rows(rows)

    def _hold(self, seconds: float, then: Callable[[], None]) -> None:
        """Write what is ready, then run `then` after `seconds`; input waits till then."""
        self._flush()
        self._held = self._shared.loop.call_later(seconds, self._release, then)

    def _release(self, then: Callable[[], None]) -> None:
        self._held = None
        if self._mode == _CLOSED:
            return
        then()
        if self._held is None and self._mode != _CLOSED:
            now = time.time_ns()
            if self._mode == _DATA:
                self._feed_data(now)
            elif self._rest:
                self._process(now)
            if self._paused and self._held is None and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
        self._flush()

    # -- commands --------------------------------------------------------------------
    def _command(self, line: bytes, now: int) -> None:
        parsed = s.split_command(line)
        out = self._out
        if isinstance(parsed, bytes):
            out.append(parsed)
            return
        command, arg = parsed
        limit = s.MAIL_LIMIT_ESMTP if command == "MAIL" and self._esmtp else s.COMMAND_LIMIT
        if len(line) > limit:
            out.append(s.TOO_LONG)
            return
        if (
            self._shared.starttls is not None
            and not self._tls
            and command not in s.ALLOWED_BEFORE_STARTTLS
        ):
            out.append(s.NEED_STARTTLS)
            return
        if command == "MAIL":
            self._mail(arg, now)
        elif command == "RCPT":
            self._rcpt(arg, now)
        elif command == "DATA":
            self._data_command(arg, now)
        elif command in ("EHLO", "HELO"):
            self._hello(command, arg)
        elif command == "RSET":
            self._tx = None
            out.append(s.OK if not arg else s.syntax_error("RSET"))
        elif command == "NOOP":
            out.append(s.OK)
        elif command == "QUIT":
            if arg:
                out.append(s.syntax_error("QUIT"))
            else:
                out.append(s.BYE)
                self._flush()
                self._close()
        elif command == "AUTH":
            self._auth(arg)
        elif command == "STARTTLS":
            self._starttls(arg)
        elif command == "VRFY":
            out.append(s.VRFY if arg else s.syntax_error("VRFY <address>"))
        elif command == "HELP":
            out.append(s.HELP)
        else:
            self._bogus += 1
            if self._bogus >= s.BOGUS_LIMIT:
                out.append(s.TOO_MANY_BOGUS)
                self._flush()
                self._close()
            else:
                out.append(s.not_recognized(command))

    def _hello(self, command: str, arg: str) -> None:
        if not arg:
            self._out.append(s.syntax_error(f"{command} hostname"))
            return
        self._tx = None
        self._helo = arg
        self._esmtp = command == "EHLO"
        if not self._esmtp:
            self._out.append(self._shared.helo)
        elif self._shared.starttls is not None and not self._tls:
            self._out.append(self._shared.ehlo_starttls)
        else:
            self._out.append(self._shared.ehlo)

    def _mail(self, arg: str, now: int) -> None:
        out = self._out
        if self._helo is None:
            out.append(s.send_helo_first("HELO"))
            return
        usage = "MAIL FROM: <address>" + (" [SP <mail-parameters>]" if self._esmtp else "")
        path = s.parse_path(arg, "FROM:")
        if path is None:
            out.append(s.syntax_error(usage))
            return
        address, params = path
        if not address:
            out.append(s.syntax_error(usage))
            return
        if self._tx is not None:
            out.append(s.NESTED_MAIL)
            return
        error = s.mail_params_error(params, esmtp=self._esmtp, size_limit=self._shared.size_limit)
        if error is not None:
            out.append(error)
            return
        state = self._state
        if self._shared.auth_required and not self._authenticated:
            state.counters.auth += 1
            out.append(_AUTH_REQUIRED)
            return
        tx = _Transaction(address, now)
        if self._first_mail:
            self._first_mail = False
            tx.connected_ns = self._connected_ns
            tx.greeting_ns = self._greeting_ns
            tx.handshake_delay_ns = self._handshake_delay_ns
            if out:  # the reply before this MAIL is not written yet: stamp it when it is
                self._waits.append((_W_READY, tx))
            else:
                tx.ready_ns = self._last_reply_ns
        self._mail_after_outage(tx, first=True)

    def _mail_after_outage(self, tx: _Transaction, *, first: bool = False) -> None:
        state = self._state
        if first:
            reply, stall = state.outage_reply("MAIL")
            if reply is not None:
                self._out.append(s.reply(reply))
                return
            if stall > 0:
                tx.delay_ns += int(stall * 1e9)
                self._hold(stall, lambda: self._mail_after_outage(tx))
                return
        # The outage first: a MAIL refused by it must not spend a rate-limit token.
        if not state.take_token():
            self._out.append(_RATE_LIMITED)
            return
        delay = state.delay("MAIL")
        fault = state.fault("MAIL")
        if delay > 0:
            tx.delay_ns += int(delay * 1e9)
            self._hold(delay, lambda: self._mail_outcome(tx, fault))
        else:
            self._mail_outcome(tx, fault)

    def _mail_outcome(self, tx: _Transaction, fault: Fault | None) -> None:
        if fault is Fault.DROP:
            self._drop()
        elif fault is not None:
            self._out.append(s.reply(self._state.fault_reply("MAIL", fault)))
        else:
            self._tx = tx
            self._out.append(s.OK)
            self._waits.append((_W_MAIL, tx))

    def _rcpt(self, arg: str, now: int) -> None:
        out = self._out
        if self._helo is None:
            out.append(s.send_helo_first("HELO"))
            return
        tx = self._tx
        if tx is None:
            out.append(s.NEED_MAIL)
            return
        usage = "RCPT TO: <address>" + (" [SP <mail-parameters>]" if self._esmtp else "")
        path = s.parse_path(arg, "TO:")
        if path is None or not path[0]:
            out.append(s.syntax_error(usage))
            return
        address, params = path
        if params:
            out.append(s.RCPT_PARAMS if self._esmtp else s.syntax_error(usage))
            return
        if "RCPT" in self._shared.instant:
            self._rcpt_outcome(tx, address, now, None)
        else:
            self._step("RCPT", tx, lambda fault: self._rcpt_outcome(tx, address, now, fault))

    def _rcpt_outcome(self, tx: _Transaction, address: str, now: int, fault: Fault | None) -> None:
        if fault is Fault.DROP:
            self._drop()
        elif fault is not None:
            self._out.append(s.reply(self._state.fault_reply("RCPT", fault)))
        elif self._tx is tx:
            if not tx.rcpt_tos:
                tx.rcpt_ns = now
                self._waits.append((_W_RCPT, tx))
            tx.rcpt_tos.append(address)
            self._out.append(s.OK)

    def _step(
        self, command: str, tx: _Transaction, outcome: Callable[[Fault | None], None]
    ) -> None:
        """Outage, delay and fault of RCPT or end of data, then `outcome(fault)`."""
        state = self._state
        reply, stall = state.outage_reply(command)
        if reply is not None:
            self._out.append(s.reply(reply))
            if command == "DATA":
                self._tx = None
            return
        if stall > 0:
            tx.delay_ns += int(stall * 1e9)
            self._hold(stall, lambda: self._step_after_outage(command, tx, outcome))
            return
        self._step_after_outage(command, tx, outcome)

    def _step_after_outage(
        self, command: str, tx: _Transaction, outcome: Callable[[Fault | None], None]
    ) -> None:
        state = self._state
        delay = state.delay(command)
        fault = state.fault(command)
        if delay > 0:
            tx.delay_ns += int(delay * 1e9)
            self._hold(delay, lambda: outcome(fault))
        else:
            outcome(fault)

    def _data_command(self, arg: str, now: int) -> None:
        out = self._out
        if self._helo is None:
            out.append(s.send_helo_first("HELO"))
            return
        tx = self._tx
        if tx is None or not tx.rcpt_tos:
            out.append(s.NEED_RCPT)
            return
        if arg:
            out.append(s.syntax_error("DATA"))
            return
        tx.data_ns = now
        out.append(s.START_DATA)
        self._waits.append((_W_DATA, tx))
        self._mode = _DATA
        self._data_state = _NOMINAL
        self._data[:] = b"\r\n"  # so the end mark is always CRLF . CRLF
        self._data_scan = 0

    def _end_of_data(self, content: bytes, now: int) -> None:
        tx = self._tx
        if tx is None:
            return
        tx.eod_ns = now
        problem = self._data_state
        long_enough = len(content) > s.DATA_LINE_LIMIT  # else no line can be too long
        if (
            problem == _NOMINAL
            and long_enough
            and max(map(len, content.split(b"\r\n"))) > s.DATA_LINE_LIMIT
        ):
            problem = _DATA_TOO_LONG
        if problem != _NOMINAL:
            self._tx = None
            self._out.append(s.DATA_LINE_TOO_LONG if problem == _DATA_TOO_LONG else s.DATA_TOO_MUCH)
            return
        if b"\n." in content or content.startswith(b"."):
            # Dot-stuffing (RFC 5321 4.5.2): a data line's leading dot was doubled.
            content = (b"\r\n" + content).replace(b"\r\n.", b"\r\n")[2:]
        if "DATA" in self._shared.instant:
            self._data_outcome(tx, content, None)
        else:
            self._step("DATA", tx, lambda fault: self._data_outcome(tx, content, fault))

    def _data_outcome(self, tx: _Transaction, content: bytes, fault: Fault | None) -> None:
        if self._tx is tx:
            self._tx = None
        if fault is Fault.DROP:
            self._drop()
        elif fault is not None:
            self._out.append(s.reply(self._state.fault_reply("DATA", fault)))
        else:
            self._out.append(_ACCEPTED)
            self._receipts.append((tx, content))

    # -- AUTH ------------------------------------------------------------------------
    def _auth(self, arg: str) -> None:
        out = self._out
        if self._helo is None:
            out.append(s.send_helo_first("EHLO"))
            return
        if not self._esmtp:
            out.append(s.AUTH_NOT_RECOGNIZED)
            return
        if self._authenticated:
            out.append(s.AUTH_ALREADY)
            return
        args = arg.split()
        if not args:
            out.append(s.AUTH_NO_VALUE)
            return
        if len(args) > 2:
            out.append(s.AUTH_TOO_MANY)
            return
        mechanism = args[0].upper()
        if mechanism == "PLAIN":
            if len(args) == 1:
                out.append(s.AUTH_PLAIN_CHALLENGE)
                self._mode = _AUTH_PLAIN
            else:
                self._auth_plain(args[1].encode())
        elif mechanism == "LOGIN":
            if len(args) == 1:
                out.append(s.AUTH_USER_CHALLENGE)
                self._mode = _AUTH_USER
            else:
                login = s.decode_base64(args[1])
                if login is None:
                    out.append(s.AUTH_BAD_BASE64)
                else:
                    self._auth_login = login
                    out.append(s.AUTH_PASSWORD_CHALLENGE)
                    self._mode = _AUTH_PASSWORD
        else:
            out.append(s.AUTH_MECHANISM)

    def _auth_line(self, blob: bytes) -> None:
        mode = self._mode
        self._mode = _COMMAND
        if blob == b"*":
            self._out.append(s.AUTH_ABORTED)
            return
        if mode == _AUTH_PLAIN:
            self._auth_plain(blob)
            return
        decoded = s.decode_base64(blob)
        if decoded is None:
            self._out.append(s.AUTH_BAD_BASE64)
        elif mode == _AUTH_USER:
            self._auth_login = decoded
            self._out.append(s.AUTH_PASSWORD_CHALLENGE)
            self._mode = _AUTH_PASSWORD
        else:
            self._auth_result(self._auth_login, decoded)

    def _auth_plain(self, text: bytes) -> None:
        decoded = s.decode_base64(text)
        if decoded is None:
            self._out.append(s.AUTH_BAD_BASE64)
            return
        pair = s.split_plain(decoded)
        if pair is None:
            self._out.append(s.AUTH_BAD_SPLIT)
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
            self._out.append(s.syntax_error("STARTTLS"))
            return
        if context is None or self._tls:
            self._out.append(s.TLS_UNAVAILABLE)
            return
        self._out.append(s.START_TLS)
        self._flush()
        self._mode = _TLS  # bytes pipelined behind STARTTLS are discarded (RFC 3207)
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
        if upgraded is None or self._mode == _CLOSED:
            return
        self._transport = upgraded
        self._tls = True
        self._helo = None
        self._esmtp = False
        self._tx = None
        self._rest = b""
        self._mode = _COMMAND


def sweep_idle(state: SinkState, timeout_ns: int) -> None:
    """Close fast connections idle for longer than the timeout (as aiosmtpd does)."""
    now = time.time_ns()
    for connection in list(state.connections):
        if isinstance(connection, FastSMTP) and now - connection.last_active_ns > timeout_ns:
            connection.close_connection()
