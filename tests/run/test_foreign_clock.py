from __future__ import annotations

import time

from poolbench.metrics.clock import ClockPair, clock_pair, stamp_ns
from poolbench.run.foreign_clock import on_our_clock
from poolbench.sink.receipt import Receipt

_PAIR = ClockPair(wall_ns=1_800_000_000_000_000_000, monotonic_ns=50_000_000_000)


def _receipt(rid: str, intended: int, started: int | None, received: int) -> Receipt:
    return Receipt(
        id=rid,
        intended_ns=intended,
        started_ns=started,
        received_ns=received,
        mail_from="a@b",
        rcpt_tos=("c@d",),
        size=1,
    )


def test_a_wall_clock_start_stamp_is_put_on_the_monotonic_clock_and_said_once() -> None:
    ours = _receipt("a", 49_990_000_000, 49_995_000_000, 50_000_000_000)
    # A consumer that stamped time.time_ns() 7 ms before the pair's wall reading.
    theirs = _receipt("b", 49_990_000_000, _PAIR.wall_ns - 7_000_000, 50_000_000_000)
    notes: list[str] = []
    out = on_our_clock([ours, theirs], _PAIR, notes)
    assert out[0] is ours
    assert out[1].started_ns == 50_000_000_000 - 7_000_000
    assert out[1].received_ns - out[1].started_ns == 7_000_000
    assert len(notes) == 1
    assert notes[0].startswith("consumer: 1 of 2 emails carry X-Poolbench-Started-Ns in wall")


def test_monotonic_stamps_pass_unchanged_and_unmentioned() -> None:
    now = stamp_ns()
    receipts = [_receipt(str(i), now - 3_000, now - 2_000, now) for i in range(3)]
    notes: list[str] = []
    assert on_our_clock(receipts, clock_pair(), notes) == receipts
    assert notes == []


def test_a_real_wall_stamp_converts_to_within_the_tests_monotonic_readings() -> None:
    before = stamp_ns()
    wall = time.time_ns()
    after = stamp_ns()
    notes: list[str] = []
    (out,) = on_our_clock([_receipt("x", before, wall, after)], clock_pair(), notes)
    assert out.started_ns is not None
    # Pair and stamp read microseconds apart: the converted stamp lands in [before, after]
    # give or take the pair's own read (well under a millisecond).
    assert before - 1_000_000 <= out.started_ns <= after + 1_000_000
