from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest

from poolbench.consumer.mime import build_message
from poolbench.consumer.sender import SendOutcome, SmtpSender
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.templates import RenderedEmail
from poolbench.errors import PermanentSendError, TransientSendError
from poolbench.sink import FaultConfig, SinkServer
from tests.consumer.conftest import StartServer
from tests.consumer.events import make_event
from tests.consumer.smtp_server import HOST, CertFiles, Handler, PortZeroController, authenticator

FROM = "shop@example.com"


def message(n: int) -> bytes:
    event = make_event(id=f"m-{n}")
    rendered = RenderedEmail(subject=f"mail {n}", text=f"body {n}\n.leading dot\n", html="<p/>")
    return build_message(event, rendered, extra_headers={"X-Poolbench-Id": f"m-{n}"})


def settings_for(port: int, **changes: object) -> ConsumerSettings:
    base = ConsumerSettings(smtp_host=HOST, smtp_port=port, smtp_timeout_s=5.0)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def make_sender() -> AsyncIterator[Callable[[ConsumerSettings], SmtpSender]]:
    senders: list[SmtpSender] = []

    def make(settings: ConsumerSettings) -> SmtpSender:
        sender = SmtpSender(settings, local_hostname="client.test")
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close()


MakeSender = Callable[[ConsumerSettings], SmtpSender]


async def test_sends_the_exact_bytes(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    sender = make_sender(settings_for(server.port))
    # Built once: the Date header has a one-second resolution, so a second build may
    # differ when the test straddles a second boundary (as it did under load).
    sent = message(1)
    await sender.send(FROM, "bob@example.org", sent)
    assert len(handler.received) == 1
    got = handler.received[0]
    assert (got.mail_from, got.rcpt_tos) == (FROM, ["bob@example.org"])
    assert got.data == sent
    parsed = BytesParser(policy=policy.default).parsebytes(got.data)
    assert parsed["X-Poolbench-Id"] == "m-1"


async def test_reuse_sends_many_emails_over_one_connection(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    sender = make_sender(settings_for(server.port, connection_reuse=True))
    for n in range(20):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 20
    assert len(handler.connections) == 1
    assert sender.connections_opened == 1


async def test_per_email_mode_opens_one_connection_per_email(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    sender = make_sender(settings_for(server.port, connection_reuse=False))
    for n in range(5):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 5
    assert len(handler.connections) == 5
    assert sender.connections_opened == 5


@pytest.mark.parametrize("reuse", [True, False])
async def test_4xx_is_transient_and_5xx_permanent(
    server: PortZeroController, handler: Handler, make_sender: MakeSender, reuse: bool
) -> None:
    handler.script.extend(["451 4.3.0 try later", "550 5.7.1 rejected"])
    sender = make_sender(settings_for(server.port, connection_reuse=reuse))
    with pytest.raises(TransientSendError) as transient:
        await sender.send(FROM, "bob@example.org", message(1))
    assert transient.value.code == 451
    assert "try later" in transient.value.reply
    assert SendOutcome.of(transient.value) is SendOutcome.TRANSIENT
    with pytest.raises(PermanentSendError) as permanent:
        await sender.send(FROM, "bob@example.org", message(2))
    assert permanent.value.code == 550
    assert SendOutcome.of(permanent.value) is SendOutcome.PERMANENT
    await sender.send(FROM, "bob@example.org", message(3))
    assert [r.data.count(b"m-3") > 0 for r in handler.received] == [True]
    assert SendOutcome.of(None) is SendOutcome.SENT


async def test_a_refused_recipient_is_permanent_and_keeps_the_connection(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    sender = make_sender(settings_for(server.port))
    await sender.send(FROM, "bob@example.org", message(1))
    with pytest.raises(PermanentSendError) as caught:
        await sender.send(FROM, "unknown@example.org", message(2))
    assert caught.value.code == 550
    await sender.send(FROM, "bob@example.org", message(3))
    assert len(handler.received) == 2
    assert sender.connections_opened == 1


async def test_421_is_transient_and_the_next_send_reconnects(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    handler.script.append("421 4.3.2 shutting down")
    sender = make_sender(settings_for(server.port))
    with pytest.raises(TransientSendError) as caught:
        await sender.send(FROM, "bob@example.org", message(1))
    assert caught.value.code == 421
    await sender.send(FROM, "bob@example.org", message(2))
    assert len(handler.received) == 1
    assert sender.connections_opened == 2


async def test_reconnects_when_the_server_drops_a_kept_connection(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    handler.drop_after_each = True
    sender = make_sender(settings_for(server.port))
    for n in range(5):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 5
    assert len(handler.connections) == 5


async def test_a_connection_cut_in_mid_transaction_is_an_error_not_a_hidden_retry(
    sink_factory: Callable[..., SinkServer], make_sender: MakeSender
) -> None:
    # Drops at DATA happen after MAIL was accepted: each must reach the caller (who counts
    # and backs off), also on a kept connection, never be re-sent silently.
    sink = sink_factory(faults=FaultConfig(drop=0.3), seed=11)
    sender = make_sender(settings_for(sink.port, connection_reuse=True))
    errors = 0
    for n in range(60):
        try:
            await sender.send(FROM, "bob@example.org", message(n))
        except TransientSendError:
            errors += 1
    counters = sink.counters()
    assert counters.dropped > 0
    assert errors == counters.dropped
    assert counters.received == 60 - errors
    assert sender.stale_reconnects == 0


async def test_connection_refused_is_transient(unused_port: int, make_sender: MakeSender) -> None:
    for reuse in (True, False):
        sender = make_sender(settings_for(unused_port, connection_reuse=reuse))
        with pytest.raises(TransientSendError) as caught:
            await sender.send(FROM, "bob@example.org", message(1))
        assert caught.value.code is None


async def test_a_slow_server_times_out_as_transient(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    handler.hold.set()  # no reply until the client has given up
    sender = make_sender(settings_for(server.port, smtp_timeout_s=0.2))
    with pytest.raises(TransientSendError, match="Timeout"):
        await sender.send(FROM, "bob@example.org", message(1))
    handler.hold.clear()
    await sender.send(FROM, "bob@example.org", message(2))
    assert [r.data.count(b"m-2") > 0 for r in handler.received][-1]
    assert sender.connections_opened == 2


@pytest.mark.parametrize("reuse", [True, False])
async def test_starttls_with_auth(
    start_server: StartServer,
    tls_cert: CertFiles,
    make_sender: MakeSender,
    reuse: bool,
) -> None:
    handler = Handler()
    server = start_server(
        handler,
        tls_context=tls_cert.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    good = settings_for(
        server.port,
        smtp_security="starttls",
        smtp_verify_tls=False,
        smtp_user="user",
        smtp_password="secret",
        connection_reuse=reuse,
    )
    sender = make_sender(good)
    for n in range(3):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 3
    assert len(handler.connections) == (1 if reuse else 3)

    wrong = make_sender(replace(good, smtp_password="guess"))
    with pytest.raises(PermanentSendError) as caught:
        await wrong.send(FROM, "bob@example.org", message(9))
    assert caught.value.code == 535

    anonymous = make_sender(replace(good, smtp_user="", smtp_password=""))
    with pytest.raises(PermanentSendError) as refused:
        await anonymous.send(FROM, "bob@example.org", message(9))
    assert refused.value.code == 530
    assert len(handler.received) == 3


# aiosmtpd does not see implicit TLS as TLS, so it warns about AUTH without it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_with_auth_and_certificate_checking(
    start_server: StartServer, tls_cert: CertFiles, make_sender: MakeSender
) -> None:
    handler = Handler()
    server = start_server(
        handler,
        ssl_context=tls_cert.server_context(),
        authenticator=authenticator,
        auth_required=True,
        # aiosmtpd only counts STARTTLS as TLS; this whole connection is TLS.
        auth_require_tls=False,
    )
    tls = settings_for(server.port, smtp_security="tls", smtp_user="user", smtp_password="secret")
    checked = make_sender(tls)  # verifies the certificate: self-signed must fail
    with pytest.raises(TransientSendError, match=r"(?i)certificate"):
        await checked.send(FROM, "bob@example.org", message(1))
    sender = make_sender(replace(tls, smtp_verify_tls=False))
    await sender.send(FROM, "bob@example.org", message(2))
    await sender.send(FROM, "bob@example.org", message(3))
    assert len(handler.received) == 2
    assert len(handler.connections) == 1


async def test_plain_server_with_security_none_does_not_upgrade(
    start_server: StartServer, tls_cert: CertFiles, make_sender: MakeSender
) -> None:
    # The server offers STARTTLS; "none" must not take it (aiosmtplib would by default).
    handler = Handler()
    server = start_server(handler, tls_context=tls_cert.server_context())
    sender = make_sender(settings_for(server.port, smtp_security="none"))
    await sender.send(FROM, "bob@example.org", message(1))
    assert len(handler.received) == 1


async def test_close_is_safe_twice_and_after_the_server_stopped(
    start_server: StartServer, make_sender: MakeSender
) -> None:
    handler = Handler(script=deque())
    server = start_server(handler)
    sender = make_sender(settings_for(server.port))
    await sender.send(FROM, "bob@example.org", message(1))
    server.stop()
    await sender.close()
    await sender.close()
    assert len(handler.received) == 1


async def test_a_non_ascii_address_without_smtputf8_is_permanent(
    server: PortZeroController, handler: Handler, make_sender: MakeSender
) -> None:
    sender = make_sender(settings_for(server.port))
    with pytest.raises(PermanentSendError):
        await sender.send(FROM, "zoë@example.org", message(1))
    await sender.send(FROM, "bob@example.org", message(2))
    assert len(handler.received) == 1
