from __future__ import annotations

import email.header
import email.utils
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from poolbench.consumer.mime import build_message, encode_words, header_line
from poolbench.consumer.templates import RenderedEmail, TemplateSet
from poolbench.wire import EMAIL_HEADER_ID, EMAIL_HEADER_INTENDED_NS, EMAIL_HEADER_STARTED_NS
from tests.consumer.events import make_event

EXTRA = {
    EMAIL_HEADER_ID: "evt-1",
    EMAIL_HEADER_INTENDED_NS: "1700000000123456789",
    EMAIL_HEADER_STARTED_NS: "1700000000223456789",
}


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def lines_of(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    return raw[:-2].split(b"\r\n")


def check_wire_form(raw: bytes) -> None:
    """CRLF only, no bare CR or LF, every line at most 998 octets; 7-bit clean."""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in lines_of(raw))
    assert raw.isascii()


def body(part: EmailMessage) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_ascii_email_parses_back_with_both_parts_and_headers() -> None:
    event = make_event(data={"name": "Ada", "body": "Your parcel left."})
    rendered = TemplateSet.load(None).render(event)
    raw = build_message(event, rendered, extra_headers=EXTRA)
    check_wire_form(raw)
    message = parse(raw)
    assert message.defects == []
    assert message["From"] == "shop@example.com"
    assert message["To"].addresses[0].addr_spec == "bob@example.org"
    assert message["To"].addresses[0].display_name == "Ada"
    assert message["Subject"] == "Hello"
    assert message["MIME-Version"] == "1.0"
    assert message["Message-ID"] == "<evt-1@poolbench>"
    assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None
    for key, value in EXTRA.items():
        assert message[key] == value
    assert message.get_content_type() == "multipart/alternative"
    text, html = list(message.iter_parts())
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == "utf-8"
    assert body(text) == rendered.text
    assert body(html) == rendered.html
    assert text.defects == []


def test_non_ascii_subject_name_and_body_survive() -> None:
    event = make_event(
        subject="Grüße aus Köln – Ihre Bestellung ✓ 注文",
        data={"name": "Zoë Ångström", "body": "Größe: 42 €\nnaïve café"},
    )
    rendered = TemplateSet.load(None).render(event)
    raw = build_message(event, rendered, extra_headers=EXTRA)
    check_wire_form(raw)
    message = parse(raw)
    assert message["Subject"] == "Grüße aus Köln – Ihre Bestellung ✓ 注文"
    assert message["To"].addresses[0].display_name == "Zoë Ångström"
    text, html = list(message.iter_parts())
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert body(text) == rendered.text
    assert "Größe: 42 €" in body(text)
    assert body(html) == rendered.html


def test_long_lines_and_long_headers_are_encoded_within_limits() -> None:
    long_line = "word " * 400  # 2000 characters on one line
    event = make_event(subject="S" * 300, data={"body": long_line})
    rendered = TemplateSet.load(None).render(event)
    raw = build_message(event, rendered, extra_headers=EXTRA)
    check_wire_form(raw)
    assert all(len(line) <= 78 for line in lines_of(raw.split(b"\r\n\r\n")[0] + b"\r\n"))
    message = parse(raw)
    assert message["Subject"] == "S" * 300
    text, _ = list(message.iter_parts())
    assert isinstance(text, EmailMessage)
    assert text["Content-Transfer-Encoding"] == "base64"
    assert body(text) == rendered.text


@pytest.mark.parametrize(
    "subject",
    [
        "evil\r\nBcc: victim@example.org",
        "evil\nX-Injected: 1",
        "=?utf-8?q?looks_encoded?=",
        "  padded  ",
        "",
    ],
)
def test_subject_cannot_inject_headers_and_round_trips(subject: str) -> None:
    event = make_event(subject=subject)
    raw = build_message(event, RenderedEmail(subject=subject, text="t", html="h"), extra_headers={})
    check_wire_form(raw)
    message = parse(raw)
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert str(message["Subject"]) == subject


def test_long_non_ascii_display_name_decodes_per_rfc_2047() -> None:
    # Python's structured-header parser keeps folding space between encoded words
    # (RFC 2047 says to drop it), so check with the RFC-following decoder.
    name = "Zoë Ünïcode-Näme with a rather long display name, indeed"
    event = make_event(data={"name": name})
    raw = build_message(event, RenderedEmail(subject="s", text="t", html="h"), extra_headers={})
    check_wire_form(raw)
    header = raw.split(b"\r\nTo: ", 1)[1].split(b"\r\nSubject:", 1)[0].decode()
    decoded = str(email.header.make_header(email.header.decode_header(header)))
    assert decoded == f"{name} <bob@example.org>"


def test_encoded_words_are_short_and_never_split_a_character() -> None:
    value = "€" * 100 + "x"
    words = encode_words(value).split("\r\n ")
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)
    decoded = "".join(
        part.decode("utf-8")  # each word alone must be valid UTF-8
        for word in words
        for part, _ in email.header.decode_header(word)
        if isinstance(part, bytes)
    )
    assert decoded == value


def test_header_line_keeps_plain_values_plain() -> None:
    assert header_line("X-Poolbench-Id", "abc-123") == "X-Poolbench-Id: abc-123\r\n"


def test_odd_event_ids_still_give_a_valid_stable_message_id() -> None:
    rendered = RenderedEmail(subject="s", text="t", html="h")
    first = parse(build_message(make_event(id="a b<c>"), rendered, extra_headers={}))
    second = parse(build_message(make_event(id="a b<c>"), rendered, extra_headers={}))
    assert first["Message-ID"] == second["Message-ID"]
    assert " " not in first["Message-ID"]
    assert first["Message-ID"].endswith("@poolbench>")


def test_a_body_containing_the_boundary_is_base64() -> None:
    raw0 = build_message(
        make_event(), RenderedEmail(subject="s", text="t", html="h"), extra_headers={}
    )
    boundary = parse(raw0).get_boundary()
    assert boundary is not None
    text = f"before\n--{boundary}--\nafter\n"
    raw = build_message(
        make_event(), RenderedEmail(subject="s", text=text, html="h"), extra_headers={}
    )
    message = parse(raw)
    parts = list(message.iter_parts())
    assert len(parts) == 2
    assert isinstance(parts[0], EmailMessage)
    assert body(parts[0]) == text
