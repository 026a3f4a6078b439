"""A lean SMTP client on `asyncio.Protocol`, for plain connections (no TLS, no AUTH).

aiosmtplib costs several times the consumer's own work per email: a task and a timeout
per command, two address parses, regex passes over the message. This client does only
what one transaction needs, and uses PIPELINING (RFC 2920) when the server's EHLO offers
it: MAIL, RCPT and DATA go in one write, the message and "." in the next (with QUIT too
when the connection is not kept), so a kept connection costs two round trips per email
instead of four. Without PIPELINING it talks in lockstep, one command per reply.

A write that only waits for a reply's code (EHLO after the 220 greeting; the message
after MAIL, RCPT and DATA were accepted) is made by the protocol as soon as that reply
arrives, and the task waits once for the whole exchange: a new connection's email wakes
its task three times (connect, EHLO's reply, the end), a kept connection's once. Each
wake-up is a loop pass behind every other task woken in it (issue 24).

Every reply is awaited for at most `timeout` after the one before (or after the wait
began). Failures come out as `SmtpReplyError`
(the server's code and text), `SmtpDisconnected` (the connection closed, with how many
replies of the transaction had arrived) or `TimeoutError`; the sender classifies them.
The message must use CRLF line endings (`mime.build_message` does); `prepare_data`
dot-stuffs it and fixes stray line endings if there are any; `send` adds the final dot.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast

CRLF: Final = b"\r\n"
# A reply line longer than this, or a reply of more lines, is a broken server.
MAX_REPLY_BYTES: Final = 64 * 1024
_STRAY_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
_END: Final = b".\r\n"
_END_AND_QUIT: Final = b".\r\nQUIT\r\n"
_GREETED: Final = (frozenset({220}),)
_ENVELOPE_ACCEPTED: Final = (frozenset({250}), frozenset({250, 251}), frozenset({354}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Then:
    """Write `parts` once the first `len(codes)` replies arrived, each with one of its codes."""

    codes: tuple[frozenset[int], ...]
    parts: tuple[bytes, ...]

    @property
    def after(self) -> int:
        return len(self.codes)


class SmtpReplyError(Exception):
    """The server refused a step: `code` and `text` are its reply."""

    def __init__(self, step: str, code: int, text: str) -> None:
        super().__init__(f"{step}: {code} {text}")
        self.step = step
        self.code = code
        self.text = text


class SmtpDisconnected(ConnectionError):
    """The connection closed before the replies we waited for arrived."""


def prepare_data(message: bytes) -> bytes:
    """The DATA payload before its final `.` CRLF: CRLF line endings, dot-stuffed
    (RFC 5321 4.5.2). A message that needs neither comes back as the same object, so an
    email in flight is held once, not twice (a thousand workers each hold one)."""
    lf = message.count(b"\n")
    if lf != message.count(CRLF) or message.count(b"\r") != lf:
        message = _STRAY_LINE_END.sub(CRLF, message)
    if not message.endswith(CRLF):
        message += CRLF
    if message.startswith(b"."):
        message = b"." + message
    if b"\n." in message:
        message = message.replace(b"\r\n.", b"\r\n..")
    return message


class _ReplyReader(asyncio.Protocol):
    """Splits what the server sends into replies; wakes one waiter when enough arrived.

    A waiter may also leave a `then`: a write to make as soon as a given reply arrived
    and was the one wanted (the EHLO after a 220 greeting, the message after a 354), from
    `data_received` itself. Without it the write would wait for the waiting task's turn,
    one loop pass later and behind every other task woken in that pass (issue 24).
    """

    __slots__ = (
        "_buffer",
        "_lines",
        "_then",
        "_waiter",
        "_wanted",
        "error",
        "last_reply",
        "replies",
        "timer",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # A list, not a deque: it holds a reply or three, and an empty deque costs ~740
        # bytes (its first block) against a list's 56, per open connection.
        self.replies: list[tuple[int, str]] = []
        self.error: BaseException | None = None
        # When the wait began or its last reply arrived (time.monotonic()): every reply
        # of a wait for several comes within the timeout of the one before.
        self.last_reply = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self._buffer = b""
        self._lines: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self._then: Then | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but has its API.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        start = 0
        replies = self.replies
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if line[3:4] == b"-":
                self._lines.append(line[4:])
                continue
            code = line[:3]
            if not code.isdigit() or (len(line) > 3 and line[3:4] != b" "):
                self._fail(SmtpDisconnected(f"malformed SMTP reply: {line[:80]!r}"))
                return
            if self._lines:
                self._lines.append(line[4:])
                text = b"\n".join(self._lines).decode("utf-8", "replace")
                self._lines = []
            else:
                text = line[4:].decode("utf-8", "replace")
            replies.append((int(code), text))
        self._buffer = buffer[start:] if start < len(buffer) else b""
        if len(self._buffer) + sum(map(len, self._lines)) > MAX_REPLY_BYTES:
            self._fail(SmtpDisconnected("SMTP reply too long"))
            return
        waiter = self._waiter
        if waiter is not None and replies and not waiter.done():
            self.last_reply = time.monotonic()
            if self._then is not None:
                self._follow()
            if len(replies) >= self._wanted:
                waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = SmtpDisconnected(
                f"the SMTP server closed the connection{f': {exc}' if exc else ''}"
            )
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self.error)

    def wait_for(self, count: int, then: Then | None = None) -> asyncio.Future[None]:
        """A future done once `count` replies are queued (or failed if the connection is).

        With `then`, its write is made once its reply arrived with one of its codes; with
        any other code the future is done at once, with the replies so far.
        """
        assert self.transport is not None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter, self._wanted, self._then = waiter, count, then
        if then is not None and self.replies:
            self._follow()
            if len(self.replies) >= self._wanted:
                waiter.set_result(None)
        return waiter

    def _follow(self) -> None:
        then = self._then
        assert then is not None and self.transport is not None
        replies = self.replies
        if len(replies) < then.after:
            return
        self._then = None
        if all(replies[i][0] in codes for i, codes in enumerate(then.codes)):
            self.transport.writelines(then.parts)
        else:
            self._wanted = len(replies)  # refused: the waiter hears it now

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.transport is not None:
            self.transport.abort()


def _expire(reader: _ReplyReader, waiter: asyncio.Future[None], timeout: float) -> None:
    """A wait's timer: fail it, unless a reply came meanwhile (then time from that one)."""
    if waiter.done():
        return
    left = reader.last_reply + timeout - time.monotonic()
    if left > 0:
        reader.timer = asyncio.get_running_loop().call_later(left, _expire, reader, waiter, timeout)
        return
    waiter.set_exception(TimeoutError(f"no SMTP reply within {timeout:g}s"))


class LeanSmtpConnection:
    """One plain SMTP connection: `open`, then `send` (any number of times), `quit`/`close`."""

    __slots__ = ("_loop", "_reader", "_timeout", "address", "mail_answered", "pipelining")

    def __init__(
        self, reader: _ReplyReader, timeout: float, *, pipelining: bool, address: str = ""
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = reader
        self._timeout = timeout
        self.pipelining = pipelining
        self.address = address  # the one of `open`'s hosts that answered
        # Whether the server answered the last transaction's MAIL: before that, a closed
        # kept connection says nothing about the email (see SmtpSender).
        self.mail_answered = False

    @classmethod
    async def open(
        cls, host: str | Sequence[str], port: int, *, local_hostname: str, timeout_s: float
    ) -> LeanSmtpConnection:
        """Connect, read the greeting, EHLO (HELO if refused); raises as `send` does.

        `host`: a name or address, or several addresses tried in order until one accepts
        the connection (pass IP literals: a name is looked up on every call).
        """
        loop = asyncio.get_running_loop()
        hosts = [host] if isinstance(host, str) else list(host)
        async with asyncio.timeout(timeout_s):
            for index, address in enumerate(hosts):
                try:
                    _, reader = await loop.create_connection(_ReplyReader, address, port)
                except OSError:
                    if index == len(hosts) - 1:
                        raise
                    continue
                break
        connection = cls(reader, timeout_s, pipelining=False, address=address)
        try:
            await connection._handshake(local_hostname.encode("ascii"))
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def is_connected(self) -> bool:
        """Open and in step: a reply nobody asked for (a 421 on an idle kept connection,
        say) means the next transaction would read it as its own, so it counts as closed."""
        reader = self._reader
        transport = reader.transport
        return (
            reader.error is None
            and not reader.replies
            and transport is not None
            and not transport.is_closing()
        )

    async def send(self, mail_from: bytes, rcpt_to: bytes, data: bytes, *, quit: bool) -> None:
        """One transaction; `data` from `prepare_data`. With `quit`, QUIT follows the message.

        Raises `SmtpReplyError`, `SmtpDisconnected` or `TimeoutError`.
        """
        self.mail_answered = False
        envelope = b"MAIL FROM:<%b>\r\nRCPT TO:<%b>\r\nDATA\r\n" % (mail_from, rcpt_to)
        if self.pipelining:
            await self._send_pipelined(envelope, data, quit=quit)
            return
        first, second, third, _ = envelope.split(CRLF)
        self._write(first + CRLF)
        mail = await self._reply()
        self.mail_answered = True
        rcpt = data_reply = (0, "")
        if mail[0] == 250:
            self._write(second + CRLF)
            rcpt = await self._reply()
            if rcpt[0] in (250, 251):
                self._write(third + CRLF)
                data_reply = await self._reply()
        if mail[0] != 250 or rcpt[0] not in (250, 251) or data_reply[0] != 354:
            await self._refused(mail, rcpt, data_reply)
        # writelines: one system call, and on uvloop no copy of the message.
        self._writelines(data, _END)
        code, text = await self._reply()
        if code != 250:
            raise SmtpReplyError("DATA", code, text)
        if quit:
            await self._goodbye(sent=False)

    async def _send_pipelined(self, envelope: bytes, data: bytes, *, quit: bool) -> None:
        """MAIL, RCPT and DATA in one write; the reader writes the message (and QUIT) as
        soon as all three were accepted, and the task wakes once, at the end, with every
        reply: those three, the message's, and QUIT's (RFC 2920: DATA ends a group; QUIT
        may follow the message's end in the next one)."""
        self._write(envelope)
        then = Then(codes=_ENVELOPE_ACCEPTED, parts=(data, _END_AND_QUIT if quit else _END))
        failure: SmtpDisconnected | TimeoutError | None = None
        try:
            await self._collect(5 if quit else 4, then)
        except (SmtpDisconnected, TimeoutError) as exc:
            failure = exc
        replies = self._reader.replies
        if not replies:
            assert failure is not None
            raise failure
        mail = replies.pop(0)
        self.mail_answered = True
        if len(replies) < 2:
            assert failure is not None
            if mail[0] == 250:
                raise failure
            # Refused at MAIL and hung up (a 421, say): the refusal is the news.
            self.close()
            raise SmtpReplyError("MAIL", *mail) from None
        rcpt, data_reply = replies.pop(0), replies.pop(0)
        if mail[0] != 250 or rcpt[0] not in (250, 251) or data_reply[0] != 354:
            await self._refused(mail, rcpt, data_reply)
        if not replies:  # the message was sent, its reply did not come
            assert failure is not None
            raise failure
        code, text = replies.pop(0)
        if code != 250:
            raise SmtpReplyError("DATA", code, text)
        if quit:
            # The email is delivered; QUIT's reply (or its absence) changes nothing.
            replies.clear()
            self.close()

    async def quit(self) -> None:
        """QUIT politely and close; never raises for a dead connection."""
        await self._goodbye(sent=False)

    def close(self) -> None:
        transport = self._reader.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    # ---- internals ------------------------------------------------------------------

    async def _handshake(self, local_hostname: bytes) -> None:
        # EHLO goes out from the reader as soon as a 220 greeting arrived (see _ReplyReader).
        ehlo = b"EHLO %b\r\n" % local_hostname
        await self._collect(2, Then(codes=_GREETED, parts=(ehlo,)))
        code, text = self._reader.replies.pop(0)
        if code != 220:
            raise SmtpReplyError("greeting", code, text)
        code, text = await self._reply()
        if code == 250:
            extensions = text.upper().split("\n")[1:]
            self.pipelining = any(
                line == "PIPELINING" or line.startswith("PIPELINING ") for line in extensions
            )
            return
        self._write(b"HELO %b\r\n" % local_hostname)
        code, text = await self._reply()
        if code != 250:
            raise SmtpReplyError("HELO", code, text)

    async def _refused(
        self, mail: tuple[int, str], rcpt: tuple[int, str], data_reply: tuple[int, str]
    ) -> None:
        """A step was refused: end the transaction cleanly and raise for the first refusal."""
        if mail[0] != 250:
            step, (code, text) = "MAIL", mail
        elif rcpt[0] not in (250, 251):
            step, (code, text) = "RCPT", rcpt
        else:
            step, (code, text) = "DATA", data_reply
        try:
            if data_reply[0] == 354:
                # DATA accepted although MAIL or RCPT failed (RFC 2920 3.1): no content.
                self._write(b".\r\n")
                await self._reply()
            if code == 421:
                self.close()
            elif mail[0] == 250 and self.is_connected:
                # The server holds our MAIL: reset it so the next transaction can start.
                self._write(b"RSET\r\n")
                if (await self._reply())[0] != 250:
                    self.close()
        except (OSError, TimeoutError):
            self.close()
        raise SmtpReplyError(step, code, text)

    async def _goodbye(self, *, sent: bool) -> None:
        try:
            if self.is_connected:
                if not sent:
                    self._write(b"QUIT\r\n")
                await self._reply()
        except (OSError, TimeoutError, SmtpReplyError):
            pass  # the server may hang up first; the goodbye changes nothing
        finally:
            self.close()

    def _write(self, data: bytes) -> None:
        reader = self._reader
        if reader.error is not None:
            raise reader.error
        assert reader.transport is not None
        reader.transport.write(data)

    def _writelines(self, data: bytes, end: bytes) -> None:
        reader = self._reader
        if reader.error is not None:
            raise reader.error
        assert reader.transport is not None
        reader.transport.writelines((data, end))

    async def _reply(self) -> tuple[int, str]:
        replies = self._reader.replies
        if not replies:
            await self._collect(1)
        return replies.pop(0)

    async def _collect(self, count: int, then: Then | None = None) -> None:
        """Wait until `count` replies are queued (fewer if `then` saw a refusal), each
        within the timeout of the one before; raises as `send` does."""
        reader = self._reader
        if then is None and len(reader.replies) >= count:
            return
        if reader.error is not None:
            raise reader.error
        waiter = reader.wait_for(count, then)
        if waiter.done():
            reader._waiter = reader._then = None
            return
        reader.last_reply = time.monotonic()
        reader.timer = self._loop.call_later(self._timeout, _expire, reader, waiter, self._timeout)
        try:
            await waiter
        except BaseException:
            # A timeout or a cancellation leaves the dialogue out of step: hang up.
            self.close()
            raise
        finally:
            if reader.timer is not None:
                reader.timer.cancel()
                reader.timer = None
            # A done future or a write held by an idle connection is waste.
            reader._waiter = reader._then = None
