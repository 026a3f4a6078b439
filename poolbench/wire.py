"""The wire format shared with the Go service: `EmailEvent` JSON plus poolbench's headers.

This module is the format's one definition: the fields and headers below (the README's
"Priority lanes" section says how `priority` is served). The load generator encodes, the
consumer decodes (on its per-email path, so decoding is a single `json.loads` and a few
checks), the sink reads the email headers the consumer copies from the Kafka headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from poolbench.errors import InvalidEventError

# Kafka headers stamped by the load generator.
HEADER_ID: Final = "poolbench-id"
HEADER_INTENDED_NS: Final = "poolbench-intended-ns"
HEADER_SENT_NS: Final = "poolbench-sent-ns"

# Email headers the consumer copies them into, read by the sink.
EMAIL_HEADER_ID: Final = "X-Poolbench-Id"
EMAIL_HEADER_INTENDED_NS: Final = "X-Poolbench-Intended-Ns"
# Added by poolbench's consumer: when a worker started the job, so the sink can split
# end-to-end latency into waiting (Kafka + queue) and sending.
EMAIL_HEADER_STARTED_NS: Final = "X-Poolbench-Started-Ns"

EVENT_TYPES: Final = frozenset({"password_reset", "welcome", "notification", "order_confirmation"})
# In the order results list them (`poolbench.results`, the run's figures).
PRIORITIES: Final = ("high", "normal", "low")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailMessage:
    id: str
    sender: str
    to: str
    subject: str
    template: str = "plain"
    data: dict[str, Any] = field(default_factory=dict)
    priority: str = "normal"
    timestamp: str = ""
    retry_count: int = 0
    # None when the event does not say: the consumer then applies its configured limit.
    max_retries: int | None = None
    status: str = "pending"
    error_msg: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailEvent:
    type: str
    message: EmailMessage


def event_to_dict(event: EmailEvent) -> dict[str, Any]:
    m = event.message
    message: dict[str, Any] = {
        "id": m.id,
        "from": m.sender,
        "to": m.to,
        "subject": m.subject,
        "template": m.template,
        "data": m.data,
        "priority": m.priority,
        "timestamp": m.timestamp,
        "retry_count": m.retry_count,
        "max_retries": m.max_retries,
        "status": m.status,
        "error_msg": m.error_msg,
    }
    if m.max_retries is None:
        del message["max_retries"]
    return {"type": event.type, "message": message}


def encode_event(event: EmailEvent) -> bytes:
    return json.dumps(event_to_dict(event), separators=(",", ":"), ensure_ascii=False).encode()


def _text(message: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = message.get(key, None if required else default)
    if not isinstance(value, str) or (required and not value):
        raise InvalidEventError(f"message.{key}: expected a non-empty string, got {value!r}")
    return value


def _address(message: dict[str, Any], key: str) -> str:
    value = _text(message, key)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c in value for c in " \r\n<>,"):
        raise InvalidEventError(f"message.{key}: not an email address: {value!r}")
    return value


def decode_event(value: bytes | str | None) -> EmailEvent:
    """Parse and validate one Kafka message value; `InvalidEventError` says what is wrong."""
    if value is None:
        raise InvalidEventError("empty message value")
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidEventError(f"expected a JSON object, got {type(doc).__name__}")
    event_type = doc.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidEventError(f"type: expected a non-empty string, got {event_type!r}")
    message = doc.get("message")
    if not isinstance(message, dict):
        raise InvalidEventError("message: missing or not an object")
    data = message.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidEventError(f"message.data: expected an object, got {type(data).__name__}")
    priority = message.get("priority") or "normal"
    if priority not in PRIORITIES:
        raise InvalidEventError(f"message.priority: expected high, normal or low, got {priority!r}")
    retry_count = message.get("retry_count", 0)
    max_retries = message.get("max_retries")
    for key, number in (("retry_count", retry_count), ("max_retries", max_retries)):
        if key == "max_retries" and number is None:
            continue
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InvalidEventError(
                f"message.{key}: expected a non-negative integer, got {number!r}"
            )
    return EmailEvent(
        type=event_type,
        message=EmailMessage(
            id=_text(message, "id"),
            sender=_address(message, "from"),
            to=_address(message, "to"),
            subject=_text(message, "subject", required=False),
            template=_text(message, "template", required=False, default="plain") or "plain",
            data=data,
            priority=priority,
            timestamp=_text(message, "timestamp", required=False),
            retry_count=retry_count,
            max_retries=max_retries,
            status=_text(message, "status", required=False, default="pending"),
            error_msg=_text(message, "error_msg", required=False),
        ),
    )
