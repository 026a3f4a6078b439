"""The calibration's rates carry Wilson 95% intervals: 0 false alarms in n is not 0%."""

from __future__ import annotations

import pytest

from benchmarks.calibrate_compare import wilson


def test_zero_of_forty_still_allows_almost_nine_percent() -> None:
    low, high = wilson(0, 40)
    assert low == 0.0
    assert high == pytest.approx(1.96**2 / (40 + 1.96**2))  # 8.8%


def test_an_interval_holds_its_rate_and_narrows_with_more_compares() -> None:
    low, high = wilson(18, 20)
    assert low < 0.9 < high
    wide = high - low
    low, high = wilson(90, 100)
    assert low < 0.9 < high and high - low < wide
    assert wilson(0, 0) == (0.0, 1.0)
