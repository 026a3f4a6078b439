"""The bound check's slack, on exact numbers (the rest is exercised through `measure`)."""

from __future__ import annotations

from poolbench.run.checks import bound_error
from poolbench.run.samples import Window
from tests.run.receipts import T0, S

WINDOW = Window(start_ns=T0, end_ns=T0 + 10 * S)


def test_against_the_offered_rate_only_the_backlog_and_1_percent_are_allowed() -> None:
    assert (
        bound_error(per_s=101.0, window=WINDOW, offered_per_s=100, ideal_per_s=0, in_flight=0)
        is None
    )
    text = bound_error(per_s=102.0, window=WINDOW, offered_per_s=100, ideal_per_s=0, in_flight=5)
    assert text is not None and "above its bound 100.0/s (offered" in text
    assert "more than the 5 in flight" in text
    assert (
        bound_error(per_s=102.0, window=WINDOW, offered_per_s=100, ideal_per_s=0, in_flight=10)
        is None
    )


def test_against_the_ideal_a_sampled_mean_gets_3_sigma() -> None:
    # 1000 expected: 3 sqrt(1000) = 95 emails of slack.
    assert (
        bound_error(per_s=109.0, window=WINDOW, offered_per_s=None, ideal_per_s=100, in_flight=0)
        is None
    )
    text = bound_error(per_s=110.0, window=WINDOW, offered_per_s=None, ideal_per_s=100, in_flight=0)
    assert text is not None and "(ideal" in text
    assert (
        bound_error(per_s=500.0, window=WINDOW, offered_per_s=None, ideal_per_s=0, in_flight=0)
        is None
    )
