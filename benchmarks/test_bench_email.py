"""Cost per email of render + `build_message` beside the same email built with `email.message`,
and of `SmtpSender.send` beside a bare aiosmtplib client on the same server.

Each round renders and assembles EMAILS emails from a mix of events (all five built-in
templates, a quarter with non-ASCII subjects and names). The baseline renders with the same
templates and builds each message with `email.message.EmailMessage` (set_content +
add_alternative + as_bytes), the obvious way, which an early measurement put at about a fifth of
a consumer's throughput. `extra_info["emails_per_s"]` holds the rate; goal: at least 5x the
baseline and at least 20,000 emails/s on one core.

The sending pair sends SENDS prebuilt emails per round over one kept connection to an
aiosmtpd server running in a thread of the same process (so both sides share the GIL
with it; the server is the bottleneck, at about 3k/s). aiosmtpd does not offer
PIPELINING, so SmtpSender's lean client talks in lockstep here, as aiosmtplib does.
Goal: SmtpSender at least as fast as bare aiosmtplib. A third case shows the
one-connection-per-email mode. (test_bench_consumer_send.py measures against C
smtp-sink, which offers PIPELINING.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from email import policy
from email.message import EmailMessage as StdlibMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid

import aiosmtplib
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.consumer.mime import build_message
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.templates import RenderedEmail, TemplateSet
from poolbench.wire import (
    EMAIL_HEADER_ID,
    EMAIL_HEADER_INTENDED_NS,
    EMAIL_HEADER_STARTED_NS,
    EmailEvent,
    EmailMessage,
)
from tests.consumer.smtp_server import HOST, Handler, PortZeroController

EMAILS = 300
SENDS = EMAILS
TEMPLATES = ("plain", "password_reset", "welcome", "notification", "order_confirmation")


def make_events() -> list[EmailEvent]:
    events = []
    for n in range(EMAILS):
        foreign = n % 4 == 0
        events.append(
            EmailEvent(
                type="notification",
                message=EmailMessage(
                    id=f"0b6f3c1e-{n:08d}",
                    sender="shop@example.com",
                    to=f"user{n}@example.org",
                    subject=f"Grüße, Ihre Bestellung {n} ✓" if foreign else f"Your order {n}",
                    template=TEMPLATES[n % len(TEMPLATES)],
                    data={
                        "name": "Zoë Ångström" if foreign else "Ada Lovelace",
                        "body": "Your parcel left our warehouse today. " * 4,
                        "message": "Something happened on your account.",
                        "reset_url": f"https://shop.example.com/reset?token={n:032x}",
                        "expires_in": "1 hour",
                        "order_id": f"A-{n}",
                        "items": "3",
                        "total": "42.00 EUR",
                    },
                ),
            )
        )
    return events


def headers(event: EmailEvent) -> dict[str, str]:
    return {
        EMAIL_HEADER_ID: event.message.id,
        EMAIL_HEADER_INTENDED_NS: "1764277200000000000",
        EMAIL_HEADER_STARTED_NS: "1764277200001000000",
    }


def stdlib_message(event: EmailEvent, rendered: RenderedEmail) -> bytes:
    message = StdlibMessage()
    message["From"] = event.message.sender
    message["To"] = f"{event.message.data['name']} <{event.message.to}>"
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="poolbench")
    for key, value in headers(event).items():
        message[key] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes(policy=policy.SMTP)


@pytest.fixture(scope="module")
def events() -> list[EmailEvent]:
    return make_events()


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(None)


def record_rate(benchmark: BenchmarkFixture) -> None:
    stats = benchmark.stats
    assert stats is not None
    benchmark.extra_info["emails_per_s"] = round(EMAILS / stats.stats.median)


@pytest.mark.benchmark(group="email-build")
def test_render_and_build_message(
    benchmark: BenchmarkFixture, events: list[EmailEvent], templates: TemplateSet
) -> None:
    def build_all() -> list[bytes]:
        return [
            build_message(event, templates.render(event), extra_headers=headers(event))
            for event in events
        ]

    built = benchmark(build_all)
    record_rate(benchmark)
    # Same content as the baseline: parse one of each kind back.
    for event, raw in zip(events[:8], built[:8], strict=True):
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert parsed["Subject"] == event.message.subject
        assert parsed[EMAIL_HEADER_ID] == event.message.id


@pytest.mark.benchmark(group="email-build")
def test_baseline_email_message(
    benchmark: BenchmarkFixture, events: list[EmailEvent], templates: TemplateSet
) -> None:
    def build_all() -> list[bytes]:
        return [stdlib_message(event, templates.render(event)) for event in events]

    built = benchmark.pedantic(build_all, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    record_rate(benchmark)
    assert len(built) == EMAILS


@pytest.fixture
def smtp_port() -> Iterator[int]:
    controller = PortZeroController(Handler(), hostname=HOST, port=0, server_hostname="sink")
    controller.start()
    yield controller.port
    controller.stop()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run_rounds(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    one_round: Callable[[], Coroutine[None, None, None]],
) -> None:
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: loop.run_until_complete(one_round()), rounds=5, iterations=1, warmup_rounds=1
    )
    stats = benchmark.stats
    assert stats is not None
    benchmark.extra_info["emails_per_s"] = round(SENDS / stats.stats.median)


@pytest.fixture(scope="module")
def prebuilt(events: list[EmailEvent], templates: TemplateSet) -> list[bytes]:
    return [build_message(e, templates.render(e), extra_headers=headers(e)) for e in events]


@pytest.mark.benchmark(group="smtp-send")
@pytest.mark.parametrize("reuse", [True, False], ids=["kept-connection", "connection-per-email"])
def test_smtp_sender(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    smtp_port: int,
    prebuilt: list[bytes],
    reuse: bool,
) -> None:
    settings = ConsumerSettings(smtp_host=HOST, smtp_port=smtp_port, connection_reuse=reuse)
    sender = SmtpSender(settings, local_hostname="bench")

    async def one_round() -> None:
        for raw in prebuilt:
            await sender.send("shop@example.com", "user@example.org", raw)

    run_rounds(benchmark, loop, one_round)
    loop.run_until_complete(sender.close())
    assert sender.connections_opened == (1 if reuse else SENDS * 6)


@pytest.mark.benchmark(group="smtp-send")
def test_baseline_bare_aiosmtplib(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    smtp_port: int,
    prebuilt: list[bytes],
) -> None:
    client = aiosmtplib.SMTP(hostname=HOST, port=smtp_port, local_hostname="bench", start_tls=False)
    loop.run_until_complete(client.connect())

    async def one_round() -> None:
        for raw in prebuilt:
            await client.sendmail("shop@example.com", ["user@example.org"], raw)

    run_rounds(benchmark, loop, one_round)
    loop.run_until_complete(client.quit())
