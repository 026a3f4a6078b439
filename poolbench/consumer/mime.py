"""One email as bytes: multipart/alternative (text/plain + text/html, UTF-8), assembled directly.

Building an `email.message.EmailMessage` per email halved a prototype's throughput
(benchmarks/test_bench_email.py compares the two), so the message is joined from
precomputed pieces instead, staying RFC-correct:
- headers that are not plain printable ASCII (or contain `=?`, or are too long) become
  RFC 2047 encoded words (UTF-8, base64), at most 75 characters each, folded with CRLF +
  space, so a CR or LF in a subject cannot inject a header;
- a body part that is ASCII with lines of at most 998 octets goes as 7bit, anything else
  as base64 in 76-character lines; line endings are CRLF throughout;
- the boundary starts with `=_`, which base64 cannot contain; a 7bit part that happens to
  contain it goes as base64.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Final

from poolbench.consumer.templates import RenderedEmail
from poolbench.wire import EmailEvent

CRLF: Final = b"\r\n"
MAX_LINE: Final = 998
# Raw UTF-8 bytes per encoded word: 45 bytes -> 60 base64 characters, + 12 of `=?utf-8?b??=`.
_WORD_BYTES: Final = 45
_LINE_WITH_WORDS: Final = 76
_BOUNDARY: Final = "=_poolbench_alt_5f1c9d0e"
_PRINTABLE_HEADER: Final = re.compile(r"[\x20-\x7e]*")
_MSGID_LEFT: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_PHRASE_ATOM: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")

_MULTIPART_HEADERS: Final = (
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="' + _BOUNDARY.encode() + b'"\r\n'
    b"\r\n"
    b"This is a multi-part message in MIME format.\r\n"
)
_DELIMITER: Final = b"--" + _BOUNDARY.encode() + b"\r\n"
_CLOSE: Final = b"--" + _BOUNDARY.encode() + b"--\r\n"
_TEXT_7BIT: Final = (
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
)
_TEXT_B64: Final = (
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
)
_HTML_7BIT: Final = (
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
)
_HTML_B64: Final = (
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
)


def build_message(
    event: EmailEvent, rendered: RenderedEmail, *, extra_headers: Mapping[str, str]
) -> bytes:
    """The complete message (headers and body, CRLF line endings), ready for SMTP DATA."""
    message = event.message
    name = message.data.get("name")
    to = message.to
    if isinstance(name, str) and name.strip():
        to = f"{encode_phrase(name.strip())} <{message.to}>"
    head = [
        f"From: {message.sender}\r\n",
        f"To: {to}\r\n",
        header_line("Subject", rendered.subject),
        _date_line(int(time.time())),
        f"Message-ID: <{_message_id_left(message.id)}@poolbench>\r\n",
    ]
    head.extend(header_line(key, value) for key, value in extra_headers.items())
    return b"".join(
        (
            "".join(head).encode(),
            _MULTIPART_HEADERS,
            _DELIMITER,
            *_part(rendered.text, _TEXT_7BIT, _TEXT_B64),
            _DELIMITER,
            *_part(rendered.html, _HTML_7BIT, _HTML_B64),
            _CLOSE,
        )
    )


@functools.lru_cache(maxsize=2)
def _date_line(second: int) -> str:
    # Formatting a date costs more than the rest of the headers; it changes once a second.
    return f"Date: {formatdate(second, usegmt=True)}\r\n"


def header_line(name: str, value: str) -> str:
    """`Name: value\\r\\n`, the value as RFC 2047 encoded words when it needs them."""
    if (
        len(name) + len(value) + 2 <= 78
        and _PRINTABLE_HEADER.fullmatch(value)
        and "=?" not in value
        and value == value.strip()
    ):
        return f"{name}: {value}\r\n"
    return f"{name}: {encode_words(value, first_line_used=len(name) + 2)}\r\n"


def encode_phrase(phrase: str) -> str:
    """A display name: kept as is when plain atoms and spaces, otherwise encoded words."""
    if len(phrase) <= 60 and _PHRASE_ATOM.fullmatch(phrase) and "=?" not in phrase:
        return phrase
    return encode_words(phrase)


def encode_words(value: str, *, first_line_used: int = 4) -> str:
    """RFC 2047 `=?utf-8?b?...?=` words of at most 75 characters, folded with CRLF + space.

    Lines holding encoded words stay within 76 characters (RFC 2047 section 2), the first
    one counting the `first_line_used` characters before the value (`Subject: `). A word
    never splits a character (section 5).
    """
    room = min(_WORD_BYTES, max(6, (_LINE_WITH_WORDS - first_line_used - 12) // 4 * 3))
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= room:
        return _word(raw)
    if value.isascii():
        first, rest = raw[:room], raw[room:]
        tail = [rest[i : i + _WORD_BYTES] for i in range(0, len(rest), _WORD_BYTES)]
        return "\r\n ".join(_word(chunk) for chunk in (first, *tail))
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(encoded) > room and chunk:
            room = _WORD_BYTES
            words.append(_word(chunk))
            chunk = bytearray()
        chunk += encoded
    if chunk or not words:
        words.append(_word(chunk))
    return "\r\n ".join(words)


def _word(raw: bytes | bytearray) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(raw, newline=False).decode("ascii") + "?="


def _message_id_left(event_id: str) -> str:
    if (
        len(event_id) <= 200
        and _MSGID_LEFT.fullmatch(event_id)
        and ".." not in event_id
        and not event_id.startswith(".")
        and not event_id.endswith(".")
    ):
        return event_id
    # Not a dot-atom: a stable id derived from it, so retries carry the same Message-ID.
    return uuid.uuid5(uuid.NAMESPACE_URL, event_id).hex


def _part(text: str, seven_bit_head: bytes, base64_head: bytes) -> tuple[bytes, bytes]:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if body.isascii() and _fits_7bit(body):
        # The CRLF before the next boundary belongs to the boundary (RFC 2046), not the body.
        return seven_bit_head, body.replace("\n", "\r\n").encode("ascii") + CRLF
    # Text is canonically CRLF (RFC 2046 4.1.1), also inside base64.
    encoded = base64.encodebytes(body.replace("\n", "\r\n").encode("utf-8"))
    return base64_head, encoded.replace(b"\n", CRLF)


def _fits_7bit(body: str) -> bool:
    if "\0" in body or _BOUNDARY in body:
        return False
    return len(body) <= MAX_LINE or max(map(len, body.split("\n"))) <= MAX_LINE
