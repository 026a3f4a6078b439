"""Reading poolbench's headers from an accepted email's raw bytes, into a `Receipt`.

This is on the per-email path, so it scans the raw header block instead of building an
`email.message` (that is reserved for the fallback that looks for a message id in the
subject or body of a foreign consumer's email).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable

from poolbench.sink.receipt import Receipt, Steps
from poolbench.wire import EMAIL_HEADER_ID, EMAIL_HEADER_INTENDED_NS, EMAIL_HEADER_STARTED_NS

_ID_KEY = b"\n" + EMAIL_HEADER_ID.lower().encode() + b":"
_INTENDED_KEY = b"\n" + EMAIL_HEADER_INTENDED_NS.lower().encode() + b":"
_STARTED_KEY = b"\n" + EMAIL_HEADER_STARTED_NS.lower().encode() + b":"
_SUBJECT_KEY = b"\nsubject:"
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_TEXT = re.compile(_UUID.pattern.decode())


def _header_value(lowered: bytes, original: bytes, key: bytes) -> bytes | None:
    at = lowered.find(key)
    if at < 0:
        return None
    start = at + len(key)
    end = original.find(b"\r\n", start)
    if end < 0:
        end = original.find(b"\n", start)
    return original[start : end if end >= 0 else len(original)].strip()


def _int_or_none(value: bytes | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _id_from_subject_or_body(content: bytes, lowered_head: bytes, head: bytes) -> str:
    """The fallback for consumers that drop the X-Poolbench headers: find the message id."""
    # A UUID has dashes: the cheap `in` test spares the regex scan of text without any.
    subject = _header_value(lowered_head, head, _SUBJECT_KEY)
    if subject and b"-" in subject:
        found = _UUID.search(subject)
        if found:
            return found.group().decode()
    body = content[len(head) :]
    found = _UUID.search(body) if b"-" in body else None
    if not found and b"=\r\n" in body:  # quoted-printable soft line breaks
        found = _UUID.search(body.replace(b"=\r\n", b""))
    if found:
        return found.group().decode()
    # Encoded parts (base64, encoded-word subjects): let the email package decode them.
    # Only when there is one: parsing costs ~200 µs, most of a foreign email's cost.
    if b"=?" not in head and b"base64" not in content.lower():
        return ""
    message = email.message_from_bytes(content, policy=email.policy.default)
    texts = [str(message.get("Subject", ""))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    for text in texts:
        match = _UUID_TEXT.search(text)
        if match:
            return match.group()
    return ""


def receipt_from_content(
    content: bytes,
    *,
    received_ns: int,
    mail_from: str,
    rcpt_tos: Iterable[str],
    steps: Steps | None = None,
) -> Receipt:
    """Build the receipt of one email from its raw bytes (headers scanned, not parsed)."""
    message_id, intended_ns, started_ns = content_fields(content)
    return Receipt(
        id=message_id,
        intended_ns=intended_ns,
        started_ns=started_ns,
        received_ns=received_ns,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        size=len(content),
        steps=steps,
    )


def content_fields(content: bytes) -> tuple[str, int | None, int | None]:
    """The id, intended and started times an email's raw bytes carry."""
    end = content.find(b"\r\n\r\n")
    if end < 0:
        end = content.find(b"\n\n")
    head = content if end < 0 else content[:end]
    lowered = b"\n" + head.lower()
    head = b"\n" + head
    raw_id = _header_value(lowered, head, _ID_KEY)
    message_id = raw_id.decode("utf-8", "replace") if raw_id else ""
    if not message_id:
        message_id = _id_from_subject_or_body(content, lowered, head)
    return (
        message_id,
        _int_or_none(_header_value(lowered, head, _INTENDED_KEY)),
        _int_or_none(_header_value(lowered, head, _STARTED_KEY)),
    )
