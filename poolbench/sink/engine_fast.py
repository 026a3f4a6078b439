"""The fast SMTP engine: one `asyncio.Protocol` per connection, driven by callbacks.

`data_received` splits lines itself and answers every complete command in it; replies
are gathered and written once per callback (so a pipelined MAIL/RCPT/DATA gets its
three replies in one write, in order). A delayed reply holds the session: the buffered
commands behind it wait for a `loop.call_later` timer, not a task. No per-line logging.

Stamps are one `stamp_ns()` (CLOCK_MONOTONIC) per event: one when a packet arrives
(every command in it shares it), one after each write (every reply in it shares it).

Why one module of ~670 lines: it is one SMTP state machine, and the per-email path
(`data_received` -> `_command` -> MAIL/RCPT/DATA and their held replies -> `_flush`) is
one class's callbacks over its slots; split across modules, the hot path would pay for
indirection and a reader would have to follow one session through several files. The
dialogues that leave the command/reply rhythm, AUTH and STARTTLS, are in
`engine_fast_auth.py`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import cast

from poolbench.metrics.clock import stamp_ns
from poolbench.sink import session
from poolbench.sink.engine_fast_auth import (
    MODE_CLOSED,
    MODE_COMMAND,
    MODE_DATA,
    MODE_SKIP,
    MODE_TLS,
    AuthAndTls,
)
from poolbench.sink.faults import Fault
from poolbench.sink.headers import content_fields
from poolbench.sink.receipt import ReceiptRow, Stamps
from poolbench.sink.state import (
    REPLY_ACCEPTED,
    REPLY_AUTH_REQUIRED,
    REPLY_OVER_CAPACITY,
    REPLY_RATE_LIMITED,
    SinkState,
)

# What a write's stamp goes to.
_W_MAIL, _W_RCPT, _W_DATA, _W_READY, _W_RECEIPT = range(5)
_NOMINAL, _DATA_TOO_LONG, _DATA_TOO_MUCH = range(3)
_PAUSE_AT = 1 << 16  # bytes buffered behind a held reply before reading pauses

_ACCEPTED = session.reply(REPLY_ACCEPTED)
_AUTH_REQUIRED = session.reply(REPLY_AUTH_REQUIRED)
_RATE_LIMITED = session.reply(REPLY_RATE_LIMITED)
_OVER_CAPACITY = session.reply(REPLY_OVER_CAPACITY)


class FastShared:
    """What the connections of one fast server share: state and prebuilt replies."""

    def __init__(self, state: SinkState, starttls: ssl.SSLContext | None) -> None:
        config = state.config
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.starttls = starttls
        self.size_limit = config.data_size_limit
        self.hostname = config.hostname
        self.greeting = session.reply(f"220 {config.hostname} ESMTP poolbench")
        self.helo = session.reply(f"250 {config.hostname}")
        self.ehlo = session.ehlo_reply(
            config.hostname, size_limit=config.data_size_limit, starttls=False
        )
        self.ehlo_starttls = session.ehlo_reply(
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


class _Transaction(Stamps):
    """One transaction in progress: its envelope and stamps."""

    __slots__ = ("mail_from", "rcpt_tos")

    def __init__(self, mail_from: str, mail_ns: int) -> None:
        super().__init__(mail_ns)
        self.mail_from = mail_from
        self.rcpt_tos: list[str] = []


class FastSMTP(AuthAndTls):
    """One SMTP session (AUTH and STARTTLS: `AuthAndTls`)."""

    # Slots: less memory per open connection, faster attribute access.
    __slots__ = (
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
        "_out",
        "_paused",
        "_receipts",
        "_rest",
        "_shared",
        "_state",
        "_tx",
        "_waits",
        "last_active_ns",
    )

    _shared: FastShared

    def __init__(self, shared: FastShared) -> None:
        self._shared = shared
        self._state = shared.state
        self._transport: asyncio.Transport | None = None
        self._mode = MODE_COMMAND
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
        now = self.last_active_ns = self._connected_ns = stamp_ns()
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        state = self._state
        if not state.admit(self):
            self._refuse(_OVER_CAPACITY)
            return
        self._counted = True
        self._greet(now)

    def connection_lost(self, exc: Exception | None) -> None:
        self._mode = MODE_CLOSED
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._out.clear()
        self._receipts.clear()
        self._tx = None
        if self._counted:
            self._counted = False
            self._state.release(self)

    def _new_session(self) -> None:
        """After the TLS upgrade: forget HELO and any transaction (RFC 3207)."""
        self._helo = None
        self._esmtp = False
        self._tx = None
        self._rest = b""
        self._mode = MODE_COMMAND

    def close_connection(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _refuse(self, reply: bytes) -> None:
        self._out.append(reply)
        self._flush()
        self._close()

    def _close(self) -> None:
        self._mode = MODE_CLOSED
        if self._transport is not None:
            self._transport.close()

    def _drop(self) -> None:
        self._mode = MODE_CLOSED
        self._out.clear()
        if self._transport is not None:
            self._transport.abort()

    def _greet(self, now: int) -> None:
        state = self._state
        reply, stall = state.outage_reply("greeting")
        if reply is not None:
            self._refuse(session.reply(reply))
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
            self._refuse(session.reply(self._state.fault_reply("greeting", fault)))
        else:
            self._out.append(self._shared.greeting)
            self._flush()
            self._greeting_ns = self._last_reply_ns

    # -- input -----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        now = self.last_active_ns = stamp_ns()
        mode = self._mode
        if mode == MODE_DATA:
            self._data += data
            if self._held is None:
                self._feed_data(now)
        elif mode < MODE_TLS:
            if (
                mode == MODE_COMMAND
                and not self._rest
                and self._held is None
                and data.endswith(b"\r\n")
                and data.find(b"\n") == len(data) - 1
                and len(data) <= session.LINE_BUFFER_LIMIT
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
            if mode == MODE_DATA:
                # The rest is content; what follows its end comes back via _feed_data.
                self._data += buf[pos:]
                self._rest = b""
                self._feed_data(now)
                return
            if mode >= MODE_TLS:
                pos = len(buf)  # nothing is read while TLS starts or after close
                break
            end = buf.find(b"\n", pos)
            if end < 0:
                if len(buf) - pos > session.LINE_BUFFER_LIMIT:
                    # An overlong line: forget it as it comes, answer at its end.
                    pos = len(buf)
                    self._mode = MODE_SKIP
                break
            line = buf[pos:end]
            pos = end + 1
            if mode == MODE_SKIP:
                self._mode = MODE_COMMAND
                self._out.append(session.TOO_LONG)
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if mode == MODE_COMMAND:
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
                elif len(data) - last - 2 > session.LINE_BUFFER_LIMIT:
                    self._data_state = _DATA_TOO_LONG
            if self._data_state != _NOMINAL and len(data) > 4:
                del data[:-4]  # refused already: keep only what may start the end mark
            self._data_scan = max(0, len(data) - 4)
            return
        content = bytes(data[2 : end + 2])
        rest = bytes(data[end + 5 :])
        data.clear()
        self._data_scan = 0
        self._mode = MODE_COMMAND
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
        # `received` counts the acceptances written to the wire, independently of the
        # receipts recorded below: the accounting cross-checks the two (a receipt lost
        # or invented between the reply and the ledger shows as a disagreement).
        self._state.counters.received += sum(1 for reply in out if reply is _ACCEPTED)
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()
        now = self._last_reply_ns = stamp_ns()
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
        self._state.ledger.add_rows(rows)

    def _hold(self, seconds: float, then: Callable[[], None]) -> None:
        """Write what is ready, then run `then` after `seconds`; input waits till then."""
        self._flush()
        due = time.monotonic() + seconds
        self._held = self._shared.loop.call_later(seconds, self._release, then, due)

    def _release(self, then: Callable[[], None], due: float) -> None:
        # uvloop (libuv) times a timer from the loop's cached clock, which may lag the real
        # one by up to an iteration, so it can fire that much early: a delay is never short.
        early = due - time.monotonic()
        if early > 0:
            self._held = self._shared.loop.call_later(early, self._release, then, due)
            return
        self._held = None
        if self._mode == MODE_CLOSED:
            return
        then()
        if self._held is None and self._mode != MODE_CLOSED:
            now = stamp_ns()
            if self._mode == MODE_DATA:
                self._feed_data(now)
            elif self._rest:
                self._process(now)
            if self._paused and self._held is None and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
        self._flush()

    # -- commands --------------------------------------------------------------------
    def _command(self, line: bytes, now: int) -> None:
        parsed = session.split_command(line)
        out = self._out
        if isinstance(parsed, bytes):
            out.append(parsed)
            return
        command, arg = parsed
        limit = (
            session.MAIL_LIMIT_ESMTP if command == "MAIL" and self._esmtp else session.COMMAND_LIMIT
        )
        if len(line) > limit:
            out.append(session.TOO_LONG)
            return
        if (
            self._shared.starttls is not None
            and not self._tls
            and command not in session.ALLOWED_BEFORE_STARTTLS
        ):
            out.append(session.NEED_STARTTLS)
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
            out.append(session.OK if not arg else session.syntax_error("RSET"))
        elif command == "NOOP":
            out.append(session.OK)
        elif command == "QUIT":
            if arg:
                out.append(session.syntax_error("QUIT"))
            else:
                out.append(session.BYE)
                self._flush()
                self._close()
        elif command == "AUTH":
            self._auth(arg)
        elif command == "STARTTLS":
            self._starttls(arg)
        elif command == "VRFY":
            out.append(session.VRFY if arg else session.syntax_error("VRFY <address>"))
        elif command == "HELP":
            out.append(session.HELP)
        else:
            self._bogus += 1
            if self._bogus >= session.BOGUS_LIMIT:
                out.append(session.TOO_MANY_BOGUS)
                self._flush()
                self._close()
            else:
                out.append(session.not_recognized(command))

    def _hello(self, command: str, arg: str) -> None:
        if not arg:
            self._out.append(session.syntax_error(f"{command} hostname"))
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
            out.append(session.send_helo_first("HELO"))
            return
        usage = "MAIL FROM: <address>" + (" [SP <mail-parameters>]" if self._esmtp else "")
        path = session.parse_path(arg, "FROM:")
        if path is None:
            out.append(session.syntax_error(usage))
            return
        address, params = path
        if not address:
            out.append(session.syntax_error(usage))
            return
        if self._tx is not None:
            out.append(session.NESTED_MAIL)
            return
        error = session.mail_params_error(
            params, esmtp=self._esmtp, size_limit=self._shared.size_limit
        )
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
                self._out.append(session.reply(reply))
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
            self._out.append(session.reply(self._state.fault_reply("MAIL", fault)))
        else:
            self._tx = tx
            self._out.append(session.OK)
            self._waits.append((_W_MAIL, tx))

    def _rcpt(self, arg: str, now: int) -> None:
        out = self._out
        if self._helo is None:
            out.append(session.send_helo_first("HELO"))
            return
        tx = self._tx
        if tx is None:
            out.append(session.NEED_MAIL)
            return
        usage = "RCPT TO: <address>" + (" [SP <mail-parameters>]" if self._esmtp else "")
        path = session.parse_path(arg, "TO:")
        if path is None or not path[0]:
            out.append(session.syntax_error(usage))
            return
        address, params = path
        if params:
            out.append(session.RCPT_PARAMS if self._esmtp else session.syntax_error(usage))
            return
        if "RCPT" in self._shared.instant:
            self._rcpt_outcome(tx, address, now, None)
        else:
            self._step("RCPT", tx, lambda fault: self._rcpt_outcome(tx, address, now, fault))

    def _rcpt_outcome(self, tx: _Transaction, address: str, now: int, fault: Fault | None) -> None:
        if fault is Fault.DROP:
            self._drop()
        elif fault is not None:
            self._out.append(session.reply(self._state.fault_reply("RCPT", fault)))
        elif self._tx is tx:
            if not tx.rcpt_tos:
                tx.rcpt_ns = now
                self._waits.append((_W_RCPT, tx))
            tx.rcpt_tos.append(address)
            self._out.append(session.OK)

    def _step(
        self, command: str, tx: _Transaction, outcome: Callable[[Fault | None], None]
    ) -> None:
        """Outage, delay and fault of RCPT or end of data, then `outcome(fault)`."""
        state = self._state
        reply, stall = state.outage_reply(command)
        if reply is not None:
            self._out.append(session.reply(reply))
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
            out.append(session.send_helo_first("HELO"))
            return
        tx = self._tx
        if tx is None or not tx.rcpt_tos:
            out.append(session.NEED_RCPT)
            return
        if arg:
            out.append(session.syntax_error("DATA"))
            return
        tx.data_ns = now
        out.append(session.START_DATA)
        self._waits.append((_W_DATA, tx))
        self._mode = MODE_DATA
        self._data_state = _NOMINAL
        self._data[:] = b"\r\n"  # so the end mark is always CRLF . CRLF
        self._data_scan = 0

    def _end_of_data(self, content: bytes, now: int) -> None:
        tx = self._tx
        if tx is None:
            return
        tx.eod_ns = now
        problem = self._data_state
        long_enough = len(content) > session.DATA_LINE_LIMIT  # else no line can be too long
        if (
            problem == _NOMINAL
            and long_enough
            and max(map(len, content.split(b"\r\n"))) > session.DATA_LINE_LIMIT
        ):
            problem = _DATA_TOO_LONG
        if problem != _NOMINAL:
            self._tx = None
            self._out.append(
                session.DATA_LINE_TOO_LONG if problem == _DATA_TOO_LONG else session.DATA_TOO_MUCH
            )
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
            self._out.append(session.reply(self._state.fault_reply("DATA", fault)))
        else:
            self._out.append(_ACCEPTED)
            self._receipts.append((tx, content))


def sweep_idle(state: SinkState, timeout_ns: int) -> None:
    """Close fast connections idle for longer than the timeout (as aiosmtpd does)."""
    now = stamp_ns()
    for connection in list(state.connections):
        if isinstance(connection, FastSMTP) and now - connection.last_active_ns > timeout_ns:
            connection.close_connection()
