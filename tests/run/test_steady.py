"""The steadiness rule that ends the warm-up, on synthetic receipt streams."""

from __future__ import annotations

from poolbench.run.steady import SteadyWatch, WindowTracker
from tests.run.receipts import MS, T0, S


def slow_start(*, start_s: float, rate: float, capacity: float, seconds: float) -> SteadyWatch:
    """Offered at `rate` from T0; nothing served before `start_s`, then FIFO at `capacity`."""
    watch = SteadyWatch()
    free_at = T0 + round(start_s * S)
    for i in range(round(rate * seconds)):
        intended = T0 + round(i * S / rate)
        begin = max(intended, free_at)
        free_at = begin + round(S / capacity)
        watch.add(free_at + 20 * MS, intended)
    return watch


def test_a_consumer_that_started_12s_late_is_steady_only_after_its_catch_up() -> None:
    # 1200 emails of backlog at 12 s, drained at 500 - 100 = 400/s: caught up at ~15 s.
    watch = slow_start(start_s=12, rate=100, capacity=500, seconds=40)
    first_steady = next(t for t in range(5, 40) if watch.check(T0 + t * S).steady)
    assert 15 < first_steady <= 15 + 4 + 1
    during = watch.check(T0 + 16 * S)
    assert not during.steady
    assert "rate" in during.reason or "draining" in during.reason
    before = watch.check(T0 + 8 * S)
    assert not before.steady and "no email delivered" in before.reason


def test_a_consumer_that_keeps_up_from_the_start_is_steady_at_once() -> None:
    watch = slow_start(start_s=0, rate=100, capacity=500, seconds=10)
    assert watch.check(T0 + 5 * S).steady


def test_an_overloaded_consumer_is_steady_at_its_capacity_with_a_growing_backlog() -> None:
    watch = slow_start(start_s=0, rate=100, capacity=85, seconds=20)
    assert watch.check(T0 + 10 * S).steady


def test_without_intended_times_the_rate_alone_decides() -> None:
    watch = SteadyWatch()
    for i in range(1000):
        watch.add(T0 + i * S // 100, None)
    assert watch.check(T0 + 6 * S).steady


def test_the_window_opens_when_steady_and_the_load_stops_after_its_duration() -> None:
    tracker = WindowTracker(warmup_s=3, warmup_max_s=60, duration_s=10)
    source = slow_start(start_s=12, rate=100, capacity=500, seconds=60)
    tracker.watch = source
    stops = [t / 2 for t in range(0, 120) if tracker.tick(now_ns=T0 + t * S // 2, load_start_ns=T0)]
    assert tracker.window_start_ns is not None
    opened = (tracker.window_start_ns - T0) / S
    assert 15 < opened <= 20
    assert stops[0] == opened + 10
    assert tracker.never_steady is None


def test_a_consumer_never_steady_within_warmup_max_stops_the_load_saying_why() -> None:
    tracker = WindowTracker(warmup_s=3, warmup_max_s=10, duration_s=10)
    # Nothing is ever delivered.
    assert not tracker.tick(now_ns=T0 + 5 * S, load_start_ns=T0)
    assert tracker.tick(now_ns=T0 + 10 * S, load_start_ns=T0)
    assert tracker.window_start_ns is None
    assert tracker.never_steady == (
        "never steady within load.warmup_max 10s: no email delivered in the first 2s of the last 4s"
    )
