"""Cost per email of render + `build_message` beside the same email built with `email.message`.

Each round renders and assembles EMAILS emails from a mix of events (all five built-in
templates, a quarter with non-ASCII subjects and names). The baseline renders with the same
templates and builds each message with `email.message.EmailMessage` (set_content +
add_alternative + as_bytes), the obvious way that FACTS.md measured at about a fifth of a
consumer's throughput. `extra_info["emails_per_s"]` holds the rate; goal: at least 5x the
baseline and at least 20,000 emails/s on one core.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage as StdlibMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.consumer.mime import build_message
from poolbench.consumer.templates import RenderedEmail, TemplateSet
from poolbench.wire import (
    EMAIL_HEADER_ID,
    EMAIL_HEADER_INTENDED_NS,
    EMAIL_HEADER_STARTED_NS,
    EmailEvent,
    EmailMessage,
)

EMAILS = 1_000
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
