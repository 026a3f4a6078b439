"""An operator's view of SMTP failures: the cause and the target, one line per cause a second."""

from __future__ import annotations

import logging

import pytest

from poolbench.consumer.failures import FailureLog, failure_class
from poolbench.consumer.metrics import FAILURE_CLASSES, LiveCounters
from poolbench.consumer.retry import CircuitBreaker
from poolbench.consumer.sender import SmtpSender
from poolbench.errors import PermanentSendError, SendError, TransientSendError
from poolbench.metrics.clock import ManualClock
from tests.consumer.test_sender import FROM, message, settings_for


def _refused() -> TransientSendError:
    """As the sender raises it: `raise TransientSendError(...) from exc`."""
    cause = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    error = TransientSendError(f"ConnectionRefusedError: {cause}")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientSendError("MAIL refused: 451 try later", code=451), "4xx"),
        (PermanentSendError("recipient refused: 550 no such user", code=550), "5xx"),
        (TransientSendError("TimeoutError: timed out"), "timeout"),
        (_refused(), "refused"),
        (TransientSendError("SMTPServerDisconnected: Connection lost"), "other"),
    ],
)
def test_every_failure_has_a_class(error: SendError, kind: str) -> None:
    assert failure_class(error) == kind


async def test_a_closed_port_is_a_refused_connection(unused_port: int) -> None:
    sender = SmtpSender(settings_for(unused_port), local_hostname="client.test")
    try:
        with pytest.raises(TransientSendError) as caught:
            await sender.send(FROM, "bob@example.org", message(1))
    finally:
        await sender.close()
    assert failure_class(caught.value) == "refused"


def test_the_log_names_cause_and_target_once_per_second(caplog: pytest.LogCaptureFixture) -> None:
    """A consumer pointed at a closed port logged only "circuit breaker open ..." forever."""
    clock = ManualClock()
    counts = LiveCounters().failures_by_class
    failures = FailureLog(target="127.0.0.1:1", counts=counts, clock=clock)
    caplog.set_level(logging.WARNING, logger="poolbench.consumer.smtp")
    for _ in range(50):
        failures.record(_refused(), permanent=False)
        clock.advance(0.01)
    failures.record(TransientSendError("MAIL refused: 451 busy", code=451), permanent=False)
    clock.advance(1.0)
    failures.record(_refused(), permanent=False)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "SMTP send failed (refused, transient): connection refused by 127.0.0.1:1"
    assert "127.0.0.1:1 replied MAIL refused: 451 busy" in lines[1]
    assert lines[2].endswith(
        "connection refused by 127.0.0.1:1 (+49 more like it since the last line)"
    )
    assert len(lines) == 3
    assert counts["refused"] == 51 and counts["4xx"] == 1
    assert set(counts) == set(FAILURE_CLASSES)


def test_the_breaker_says_why_it_opened(caplog: pytest.LogCaptureFixture) -> None:
    breaker = CircuitBreaker(2, 5.0, ManualClock())
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        breaker.last_cause = "connection refused by 127.0.0.1:1"
        breaker.record_transient_failure()
    assert any(
        "(last: connection refused by 127.0.0.1:1)" in r.getMessage() for r in caplog.records
    )
