"""Events for the consumer's tests."""

from __future__ import annotations

from typing import Any

from poolbench.wire import EmailEvent, EmailMessage


def make_event(
    *,
    id: str = "evt-1",
    type: str = "notification",
    template: str = "plain",
    subject: str = "Hello",
    to: str = "bob@example.org",
    sender: str = "shop@example.com",
    data: dict[str, Any] | None = None,
) -> EmailEvent:
    return EmailEvent(
        type=type,
        message=EmailMessage(
            id=id,
            sender=sender,
            to=to,
            subject=subject,
            template=template,
            data={} if data is None else data,
        ),
    )
