import pytest

from poolbench.metrics.clock import ManualClock
from poolbench.metrics.histogram import LatencyHistogram


def test_percentiles_within_one_percent() -> None:
    hist = LatencyHistogram()
    for ms in range(1, 1001):  # 1..1000 ms, uniform
        hist.record_ns(ms * 1_000_000)
    summary = hist.summary()
    assert summary.count == 1000
    assert summary.p50 == pytest.approx(500, rel=0.01)
    assert summary.p99 == pytest.approx(990, rel=0.01)
    assert summary.max == pytest.approx(1000, rel=0.01)
    assert summary.avg == pytest.approx(500.5, rel=0.01)


def test_empty_summary_is_zero() -> None:
    assert LatencyHistogram().summary().p99 == 0


def test_out_of_range_values_are_clamped_not_dropped() -> None:
    hist = LatencyHistogram()
    hist.record_ns(-5)
    hist.record_ns(10 * 3600 * 10**9)
    assert hist.count == 2


def test_negative_samples_are_counted_for_a_clock_warning() -> None:
    hist = LatencyHistogram()
    for ns in (-5, -3_000_000, 0, 500, 2_000_000):  # 0 and 500 ns: clamped but not negative
        hist.record_ns(ns)
    hist.record_seconds(-0.25)
    assert (hist.count, hist.negative_count) == (6, 3)
    other = LatencyHistogram()
    other.record_ns(-1)
    hist.merge(other)
    assert hist.negative_count == 4
    hist.reset()
    assert (hist.count, hist.negative_count) == (0, 0)


def test_encode_decode_and_merge() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record_seconds(0.1)
    b.record_seconds(0.3)
    restored = LatencyHistogram.decode(b.encode())
    a.merge(restored)
    assert a.count == 2
    assert a.summary().max == pytest.approx(300, rel=0.01)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock()
    start = clock.wall_ns()
    clock.advance(0.5)
    assert clock.monotonic() == 0.5
    assert clock.wall_ns() - start == 500_000_000
