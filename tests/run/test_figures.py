"""Known answers for a steady-state window's figures, on synthetic receipts."""

from __future__ import annotations

from poolbench.run.figures import distinct_receipts, ideal_throughput, throughput
from poolbench.run.samples import Window
from tests.run.receipts import MS, T0, Rec, S, paced


def test_duplicates_count_once_and_the_earliest_receipt_is_kept() -> None:
    receipts = [Rec("a", T0, T0 + 300 * MS), Rec("a", T0, T0 + 100 * MS), Rec("", T0, T0)]
    distinct = distinct_receipts(receipts)
    assert distinct.first["a"].received_ns == T0 + 100 * MS
    assert (distinct.duplicates, distinct.unidentified) == (1, 1)


def test_ideal_throughput() -> None:
    assert ideal_throughput(workers=10, mean_latency_s=0.1, offered_per_s=None) == 100
    assert ideal_throughput(workers=10, mean_latency_s=0.1, offered_per_s=50) == 50
    assert ideal_throughput(workers=2, instances=3, mean_latency_s=0.1, offered_per_s=None) == 60
    # No finite bound is no value, never 0.0 (a gate would read 0.0 as one).
    assert ideal_throughput(workers=10, mean_latency_s=0.0, offered_per_s=None) is None
    assert ideal_throughput(workers=10, mean_latency_s=0.0, offered_per_s=80) == 80


def test_throughput_halves_and_offered() -> None:
    window = Window(start_ns=T0, end_ns=T0 + 10 * S)
    rate = throughput(paced(50, 10, 0.0), window, offered_per_s=50.0)
    assert rate.first_half_per_s == rate.second_half_per_s == 50.0
    assert rate.steady
