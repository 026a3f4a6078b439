"""A tiny scripted SMTP server over real TCP that offers PIPELINING, for the lean client's tests.

It runs its own event loop in a thread on port 0. With `strict_groups` it answers MAIL,
RCPT and DATA only once all three have arrived, so a client that waits for each reply
(lockstep) times out: passing proves the client pipelined. `script` maps a step (`MAIL`,
`RCPT`, `DATA`, `DOT` for the reply after the message) to replies used in turn before the
default; `drop_at` closes the connection instead of answering a step, once per entry.
The message is recorded as received on the wire (dot-stuffed) and un-stuffed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

HOST = "127.0.0.1"
DEFAULTS = {"MAIL": "250 2.1.0 Ok", "RCPT": "250 2.1.5 Ok", "DATA": "354 go on", "DOT": "250 Ok"}


@dataclass
class Transaction:
    connection: int
    mail_from: bytes
    rcpt_to: bytes
    wire: bytes  # the DATA payload as sent, dot-stuffed, without the final ".\r\n"

    @property
    def message(self) -> bytes:
        lines = self.wire.split(b"\r\n")
        return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


@dataclass
class ScriptedServer:
    pipelining: bool = True
    strict_groups: bool = False
    script: dict[str, deque[str]] = field(default_factory=dict)
    drop_at: deque[str] = field(default_factory=deque)
    # Sent right after the reply to the message, unasked (as a server closing an idle
    # connection may).
    unsolicited: str | None = None
    delivered: list[Transaction] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> ScriptedServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, HOST, 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _reply(self, step: str) -> str | None:
        if self.drop_at and self.drop_at[0] == step:
            self.drop_at.popleft()
            return None
        replies = self.script.get(step)
        return replies.popleft() if replies else DEFAULTS[step]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            await self._session(number, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _session(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        mail_from = rcpt_to = b""
        pending: list[str] = []
        while line := await reader.readline():
            command = line.rstrip(b"\r\n")
            self.commands.append(command)
            verb = command[:4].upper()
            answer: str | None
            if verb == b"EHLO":
                extensions = "250-PIPELINING\r\n" if self.pipelining else ""
                answer = f"250-scripted\r\n{extensions}250 8BITMIME"
            elif verb in (b"HELO", b"RSET", b"NOOP"):
                mail_from = rcpt_to = b""
                answer = "250 Ok"
            elif verb == b"QUIT":
                writer.write(b"221 Bye\r\n")
                await writer.drain()
                return
            elif verb == b"MAIL":
                mail_from = command[10:].strip(b"<>")
                answer = self._reply("MAIL")
                if answer is not None and not answer.startswith("250"):
                    mail_from = b""
            elif verb == b"RCPT":
                answer = "503 5.5.1 need MAIL first" if not mail_from else self._reply("RCPT")
                if answer is not None and answer.startswith("250"):
                    rcpt_to = command[8:].strip(b"<>")
            elif verb == b"DATA":
                answer = "554 5.5.1 no valid recipients" if not rcpt_to else self._reply("DATA")
                if answer is not None and answer.startswith("354"):
                    pending.append(answer)
                    await self._flush(writer, pending)
                    lines = []
                    while (text := await reader.readline()) not in (b".\r\n", b""):
                        lines.append(text)
                    answer = self._reply("DOT")
                    if answer is not None and answer.startswith("250"):
                        wire = b"".join(lines)
                        self.delivered.append(Transaction(number, mail_from, rcpt_to, wire))
                        if self.unsolicited is not None:
                            answer += f"\r\n{self.unsolicited}"
                    mail_from = rcpt_to = b""
            else:
                answer = "502 unknown command"
            if answer is None:
                await self._flush(writer, pending)
                return  # dropped: the connection closes in _serve
            pending.append(answer)
            if not self.strict_groups or verb not in (b"MAIL", b"RCPT"):
                await self._flush(writer, pending)

    @staticmethod
    async def _flush(writer: asyncio.StreamWriter, pending: list[str]) -> None:
        if pending:
            writer.write("".join(f"{reply}\r\n" for reply in pending).encode())
            pending.clear()
            await writer.drain()
