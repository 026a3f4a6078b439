"""The lean SMTP client through `SmtpSender`, over real TCP.

PIPELINING against Postfix's C smtp-sink (when /opt/postfix has it) and against a scripted
server that answers a group only once it arrived whole; lockstep against aiosmtpd, which
does not offer PIPELINING. Classification, drops, reuse and the exact bytes on the wire.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import pytest

from poolbench.consumer import smtp_client
from poolbench.consumer.mime import build_message
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.service import new_event_loop
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.smtp_client import LeanSmtpConnection, prepare_data
from poolbench.consumer.templates import RenderedEmail
from poolbench.errors import PermanentSendError, TransientSendError
from poolbench.sink import SinkConfig, SinkServer
from poolbench.sink.latency import Fixed
from tests.consumer.events import make_event
from tests.consumer.pipelining_server import HOST, ScriptedServer
from tests.consumer.smtp_server import Handler, PortZeroController

FROM = "shop@example.com"
TO = "bob@example.org"
POSTFIX = Path("/opt/postfix")
SMTP_SINK = POSTFIX / "usr/sbin/smtp-sink"

MakeSender = Callable[..., SmtpSender]


def message(n: int) -> bytes:
    event = make_event(id=f"p-{n}")
    text = f"line {n}\n.a line that starts with a dot\n..two dots\n.\nend\n"
    rendered = RenderedEmail(subject=f"mail {n}", text=text, html="<p>.x</p>")
    return build_message(event, rendered, extra_headers={"X-Poolbench-Id": f"p-{n}"})


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(**kwargs: object) -> ScriptedServer:
        server = ScriptedServer(**kwargs).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def make_sender() -> AsyncIterator[MakeSender]:
    senders: list[SmtpSender] = []

    def make(port: int, **changes: object) -> SmtpSender:
        base = ConsumerSettings(smtp_host=HOST, smtp_port=port, smtp_timeout_s=5.0)
        sender = SmtpSender(replace(base, **changes), local_hostname="client.test")  # type: ignore[arg-type]
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close()


@pytest.fixture
def postfix_port() -> Iterator[int]:
    if not SMTP_SINK.exists():
        pytest.skip("Postfix's smtp-sink is not installed in /opt/postfix")
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX / "usr/lib/postfix")}
    process = subprocess.Popen(
        [str(SMTP_SINK), "-u", "nobody", f"{HOST}:{port}", "64"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_prepare_data_stuffs_dots_and_fixes_line_endings() -> None:
    assert prepare_data(b".a\r\nb\r\n.c\r\n") == b"..a\r\nb\r\n..c\r\n"
    assert prepare_data(b"a\nb\rc") == b"a\r\nb\r\nc\r\n"
    plain = b"plain\r\nno dots\r\n"
    assert prepare_data(plain) is plain  # not copied: held once while in flight


@pytest.mark.parametrize("reuse", [True, False])
async def test_pipelining_against_postfix_smtp_sink(
    postfix_port: int, make_sender: MakeSender, reuse: bool
) -> None:
    sender = make_sender(postfix_port, connection_reuse=reuse)
    for n in range(30):
        await sender.send(FROM, TO, message(n))
    assert sender.connections_opened == (1 if reuse else 30)
    connection = await LeanSmtpConnection.open(
        HOST, postfix_port, local_hostname="client.test", timeout_s=5
    )
    assert connection.pipelining
    await connection.quit()


@pytest.mark.parametrize("reuse", [True, False])
async def test_a_pipelined_group_goes_in_one_write_and_the_bytes_arrive_exactly(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender, reuse: bool
) -> None:
    # The server answers MAIL and RCPT only once DATA arrived: lockstep would time out.
    server = scripted(strict_groups=True)
    sender = make_sender(server.port, connection_reuse=reuse, smtp_timeout_s=2.0)
    sent = [message(n) for n in range(5)]
    for raw in sent:
        await sender.send(FROM, TO, raw)
    assert [t.message for t in server.delivered] == sent
    assert all(b"\r\n..a line that starts" in t.wire for t in server.delivered)
    assert {(t.mail_from, t.rcpt_to) for t in server.delivered} == {(FROM.encode(), TO.encode())}
    assert server.connections == (1 if reuse else 5)
    parsed = BytesParser(policy=policy.default).parsebytes(server.delivered[0].message)
    assert parsed["X-Poolbench-Id"] == "p-0"
    text = parsed.get_body(("plain",))
    assert text is not None
    content = text.get_content().replace("\r\n", "\n")
    assert ".a line that starts with a dot\n..two dots\n.\nend" in content


async def test_lockstep_when_pipelining_is_not_offered(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    server = scripted(pipelining=False)
    sender = make_sender(server.port)
    await sender.send(FROM, TO, message(1))
    connection = await LeanSmtpConnection.open(
        HOST, server.port, local_hostname="client.test", timeout_s=5
    )
    assert not connection.pipelining
    await connection.quit()
    assert [t.message for t in server.delivered] == [message(1)]


async def test_lockstep_against_aiosmtpd_sends_the_exact_bytes(make_sender: MakeSender) -> None:
    handler = Handler()
    controller = PortZeroController(handler, hostname=HOST, port=0, server_hostname="sink.test")
    controller.start()
    try:
        sender = make_sender(controller.port)
        sent = [message(n) for n in range(3)]
        for raw in sent:
            await sender.send(FROM, TO, raw)
        assert [r.data for r in handler.received] == sent
        assert len(handler.connections) == 1
    finally:
        await sender.close()
        controller.stop()


@pytest.mark.parametrize(
    "case",
    [
        ("MAIL", "451 4.3.0 busy", TransientSendError, 451),
        ("MAIL", "553 5.1.8 bad sender", PermanentSendError, 553),
        ("RCPT", "450 4.2.1 mailbox busy", TransientSendError, 450),
        ("RCPT", "550 5.1.1 no such user", PermanentSendError, 550),
        ("DATA", "554 5.5.1 no valid recipients", PermanentSendError, 554),
        ("DOT", "452 4.3.1 out of space", TransientSendError, 452),
        ("DOT", "552 5.3.4 too big", PermanentSendError, 552),
    ],
)
@pytest.mark.parametrize("pipelining", [True, False])
async def test_refusals_are_classified_and_the_kept_connection_stays_usable(
    scripted: Callable[..., ScriptedServer],
    make_sender: MakeSender,
    case: tuple[str, str, type[Exception], int],
    pipelining: bool,
) -> None:
    step, reply, error, code = case
    server = scripted(pipelining=pipelining, script={step: deque([reply])})
    sender = make_sender(server.port)
    with pytest.raises(error) as caught:
        await sender.send(FROM, TO, message(1))
    assert isinstance(caught.value, TransientSendError | PermanentSendError)
    assert caught.value.code == code
    assert reply[4:] in caught.value.reply
    await sender.send(FROM, TO, message(2))
    assert [t.message for t in server.delivered] == [message(2)]
    assert server.connections == sender.connections_opened == 1


async def test_421_at_mail_is_transient_and_the_next_send_reconnects(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    server = scripted(script={"MAIL": deque(["421 4.3.2 closing"])})
    sender = make_sender(server.port)
    with pytest.raises(TransientSendError) as caught:
        await sender.send(FROM, TO, message(1))
    assert caught.value.code == 421
    await sender.send(FROM, TO, message(2))
    assert len(server.delivered) == 1
    assert sender.connections_opened == 2


@pytest.mark.parametrize("step", ["RCPT", "DATA", "DOT"])
@pytest.mark.parametrize("reuse", [True, False])
async def test_a_drop_after_mail_was_answered_is_this_emails_failure(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender, step: str, reuse: bool
) -> None:
    server = scripted(drop_at=deque([step]))
    sender = make_sender(server.port, connection_reuse=reuse)
    with pytest.raises(TransientSendError):
        await sender.send(FROM, TO, message(1))
    await sender.send(FROM, TO, message(2))
    assert [t.message for t in server.delivered] == [message(2)]
    assert sender.stale_reconnects == 0
    assert sender.connections_opened == 2


async def test_a_kept_connection_closed_before_mail_is_replaced_silently(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    server = scripted()
    sender = make_sender(server.port)
    await sender.send(FROM, TO, message(1))
    server.drop_at.append("MAIL")  # the server hangs up on the kept connection's next MAIL
    await sender.send(FROM, TO, message(2))
    assert [t.message for t in server.delivered] == [message(1), message(2)]
    assert sender.stale_reconnects == 1
    assert sender.connections_opened == 2


async def test_an_unasked_reply_on_a_kept_connection_is_not_read_as_the_next_emails(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    server = scripted(unsolicited="421 4.4.2 idle too long")
    sender = make_sender(server.port)
    for n in range(3):
        await sender.send(FROM, TO, message(n))
    assert [t.message for t in server.delivered] == [message(n) for n in range(3)]
    assert sender.connections_opened == 3  # each 421 retired its connection, no email failed


async def test_no_reply_within_the_timeout_is_transient(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    # Strict groups and no PIPELINING advertised would deadlock a lockstep client; here
    # the server waits for a group the lockstep client never sends: a timeout.
    server = scripted(pipelining=False, strict_groups=True)
    sender = make_sender(server.port, smtp_timeout_s=0.2)
    with pytest.raises(TransientSendError, match="Timeout"):
        await sender.send(FROM, TO, message(1))
    assert server.delivered == []


async def test_a_refused_connection_is_transient(make_sender: MakeSender) -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    for reuse in (True, False):
        sender = make_sender(port, connection_reuse=reuse)
        with pytest.raises(TransientSendError) as caught:
            await sender.send(FROM, TO, message(1))
        assert caught.value.code is None


async def test_bad_envelope_addresses_are_permanent_without_a_connection(
    scripted: Callable[..., ScriptedServer], make_sender: MakeSender
) -> None:
    server = scripted()
    sender = make_sender(server.port)
    for bad in ("a@b\r\nRCPT TO:<x@y>", "", "Bob <>"):
        with pytest.raises(PermanentSendError):
            await sender.send(FROM, bad, message(1))
    await sender.send(FROM, "Bob <bob@example.org>", message(2))
    assert [t.rcpt_to for t in server.delivered] == [b"bob@example.org"]


@pytest.mark.parametrize("reuse", [True, False])
def test_on_the_consumers_own_loop_the_bytes_arrive_exactly(
    scripted: Callable[..., ScriptedServer], reuse: bool
) -> None:
    # uvloop (where installed) writes with its own transport: check the wire there too.
    server = scripted(strict_groups=True)
    settings = ConsumerSettings(
        smtp_host=HOST, smtp_port=server.port, smtp_timeout_s=2.0, connection_reuse=reuse
    )
    sent = [message(n) for n in range(4)]

    async def main() -> None:
        sender = SmtpSender(settings, local_hostname="client.test")
        for raw in sent:
            await sender.send(FROM, TO, raw)
        await sender.close()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
    assert [t.message for t in server.delivered] == sent
    assert server.connections == (1 if reuse else 4)


@dataclass
class Counts:
    waits: int = 0  # the task's waits for replies: each is a loop pass of its email's path
    writes: int = 0  # transport.write / writelines calls: system calls sending commands


class _CountingTransport:
    """The reader's transport, counting writes; everything else is the transport's."""

    def __init__(self, transport: asyncio.Transport, counts: Counts) -> None:
        self._transport = transport
        self._counts = counts

    def write(self, data: bytes) -> None:
        self._counts.writes += 1
        self._transport.write(data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        self._counts.writes += 1
        self._transport.writelines(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    counted = Counts()

    class CountingReader(smtp_client._ReplyReader):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            wrapped = _CountingTransport(cast(asyncio.Transport, transport), counted)
            super().connection_made(cast(asyncio.BaseTransport, wrapped))

        def wait_for(self, *args: Any) -> asyncio.Future[None]:
            counted.waits += 1
            return super().wait_for(*args)

    monkeypatch.setattr(smtp_client, "_ReplyReader", CountingReader)
    return counted


def test_an_email_wakes_its_task_once_per_connection_step(counts: Counts) -> None:
    # Issue 24: each wake-up of a sending task is a loop pass in its email's path, behind
    # every other task woken in that pass; with sixty workers in step, five of them per
    # new-connection email cost a convoy. The EHLO after the greeting and the message
    # after the accepted envelope are written by the protocol as their reply arrives, so
    # an email on a kept connection wakes its task once (its replies are all in), and
    # one on a new connection once more (EHLO's reply; the connect is create_connection's).
    # Control, same run: the kept connection's counts.
    workers, per_worker = 4, 5
    emails = workers * per_worker
    config = SinkConfig(port=0, isolated=True, latency=Fixed(delay=0.005))
    measured: dict[bool, Counts] = {}
    with SinkServer(config) as sink:
        for reuse in (True, False):
            settings = ConsumerSettings(
                smtp_host=sink.host, smtp_port=sink.port, connection_reuse=reuse
            )

            async def main(settings: ConsumerSettings = settings) -> None:
                senders = [SmtpSender(settings, local_hostname="client.test") for _ in range(4)]

                async def worker(sender: SmtpSender, first: int) -> None:
                    for n in range(first, first + per_worker):
                        await sender.send(FROM, TO, message(n))

                await asyncio.gather(*(worker(s, i * per_worker) for i, s in enumerate(senders)))
                for sender in senders:
                    await sender.close()

            counts.waits = counts.writes = 0
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(main())
            measured[reuse] = replace(counts)
        assert len(sink.receipts()) == 2 * emails
    kept, new = measured[True], measured[False]
    # Kept: one wait and two writes (the envelope; the message) per email, plus each
    # connection's handshake (one wait, one write) and QUIT at close (one of each).
    assert kept.waits == emails + 2 * workers
    assert kept.writes == 2 * emails + 2 * workers
    # New: the kept email's, plus the handshake's wait and EHLO's write; QUIT rides with
    # the message.
    assert new.waits == 2 * emails
    assert new.writes == 3 * emails


def test_a_reply_is_awaited_for_the_timeout_after_the_one_before() -> None:
    # One wait covers MAIL, RCPT, DATA and the message's reply: 0.6 s in all, each 0.2 s
    # after the one before. The timeout bounds each reply, not the group.
    latency = Fixed(delay=0.2)
    config = SinkConfig(
        port=0,
        isolated=True,
        latency=latency,
        command_latency={"MAIL": latency, "RCPT": latency},
    )
    with SinkServer(config) as sink:
        settings = ConsumerSettings(
            smtp_host=sink.host, smtp_port=sink.port, smtp_timeout_s=0.5, connection_reuse=False
        )

        async def main() -> None:
            sender = SmtpSender(settings, local_hostname="client.test")
            began = time.monotonic()
            await sender.send(FROM, TO, message(1))
            assert time.monotonic() - began > settings.smtp_timeout_s  # the group took longer

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())
        assert len(sink.receipts()) == 1
