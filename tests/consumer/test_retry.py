from __future__ import annotations

import logging
import random

import pytest

from poolbench.consumer.retry import Backoff, BreakerState, CircuitBreaker
from poolbench.metrics.clock import ManualClock


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """Read through a function: mypy would otherwise narrow the property across calls."""
    return breaker.state


def test_backoff_stays_within_the_full_jitter_bounds() -> None:
    backoff = Backoff(0.1, 5.0, random.Random(1))
    for attempt in range(12):
        ceiling = min(5.0, 0.1 * 2**attempt)
        assert backoff.ceiling(attempt) == pytest.approx(ceiling)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter uses the whole range, not just its top.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9


def test_backoff_is_deterministic_for_a_seed() -> None:
    first = [Backoff(0.1, 5.0, random.Random(7)).delay(a) for a in range(10)]
    again = [Backoff(0.1, 5.0, random.Random(7)).delay(a) for a in range(10)]
    other = [Backoff(0.1, 5.0, random.Random(8)).delay(a) for a in range(10)]
    assert first == again
    assert first != other


def test_backoff_huge_attempts_are_capped_and_bad_input_rejected() -> None:
    backoff = Backoff(0.1, 5.0, random.Random(0))
    assert backoff.ceiling(10_000) == 5.0
    assert Backoff(0.0, 5.0, random.Random(0)).delay(3) == 0.0
    with pytest.raises(ValueError, match="attempt"):
        backoff.delay(-1)
    with pytest.raises(ValueError, match="negative"):
        Backoff(-1.0, 5.0, random.Random(0))


def test_breaker_opens_after_threshold_consecutive_transient_failures() -> None:
    breaker = CircuitBreaker(3, 5.0, ManualClock())
    for _ in range(2):
        breaker.record_transient_failure()
        assert state_of(breaker) is BreakerState.CLOSED
        assert breaker.allow()
    breaker.record_success()  # resets the run
    assert breaker.consecutive_failures == 0
    for _ in range(2):
        breaker.record_transient_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.record_transient_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.opened_count == 1


def test_permanent_failures_do_not_count() -> None:
    breaker = CircuitBreaker(2, 5.0, ManualClock())
    breaker.record_transient_failure()
    for _ in range(10):
        breaker.record_permanent_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


def test_cooldown_then_exactly_one_probe_then_close() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record_transient_failure()
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(4.0)
    assert breaker.remaining_cooldown() == pytest.approx(1.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.remaining_cooldown() == 0.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # one at a time
    assert not breaker.allow()
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_failed_probe_reopens_for_a_new_cooldown() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(2, 5.0, clock)
    breaker.record_transient_failure()
    breaker.record_transient_failure()
    clock.advance(5.0)
    assert breaker.allow()
    clock.advance(3.0)  # the probe took a while
    breaker.record_transient_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert breaker.opened_count == 2
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED


def test_a_permanent_reply_to_the_probe_closes_the_breaker() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(1, 1.0, clock)
    breaker.record_transient_failure()
    clock.advance(1.0)
    assert breaker.allow()
    breaker.record_permanent_failure()
    assert state_of(breaker) is BreakerState.CLOSED


def test_state_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(1, 1.0, clock)
    with caplog.at_level(logging.INFO, logger="poolbench.consumer.retry"):
        breaker.record_transient_failure()
        clock.advance(1.0)
        assert breaker.allow()
        breaker.record_success()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "open" in messages[0]
    assert "half-open" in messages[1]
    assert "closed" in messages[2]


def test_breaker_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(0, 1.0, ManualClock())
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(1, -1.0, ManualClock())
