from __future__ import annotations

import pytest

from poolbench.loadgen.lag import FOLD_EVERY, LagRecorder


def test_empty_recorder_reports_zeros() -> None:
    assert LagRecorder().summary().count == 0


def test_percentiles_survive_folding() -> None:
    recorder = LagRecorder()
    total = FOLD_EVERY * 2 + 10
    for i in range(total):
        recorder.add_us(5000 if i % 100 == 0 else 100)
    summary = recorder.summary()
    assert summary.count == total
    assert summary.p50 == pytest.approx(0.1, rel=0.01)
    assert summary.max == pytest.approx(5.0, rel=0.01)
    assert summary.p99 == pytest.approx(0.1, rel=0.01)


def test_negative_and_zero_lags_are_clamped_to_the_floor() -> None:
    recorder = LagRecorder()
    recorder.add_us(-3)
    recorder.add_us(0)
    summary = recorder.summary()
    assert summary.count == 2
    assert summary.max == pytest.approx(0.001)


def test_hot_loop_append_keeps_working_across_folds() -> None:
    recorder = LagRecorder()
    append = recorder.append
    for i in range(FOLD_EVERY * 3):
        append(200)
        if i % 1000 == 0:
            recorder.maybe_fold()
    assert recorder.summary().count == FOLD_EVERY * 3
    assert recorder.summary().p99 == pytest.approx(0.2, rel=0.01)
