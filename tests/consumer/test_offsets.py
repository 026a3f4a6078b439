import random

import pytest

from poolbench.consumer.offsets import OffsetTracker, PartitionOffsets


def test_nothing_dispatched_has_no_position() -> None:
    assert PartitionOffsets().position is None


def test_position_is_the_lowest_unfinished_offset() -> None:
    part = PartitionOffsets()
    for offset in range(10, 15):
        part.dispatch(offset)
    assert part.position == 10
    part.finish(12)
    part.finish(13)
    assert part.position == 10  # 10 and 11 still running
    part.finish(10)
    assert part.position == 11
    part.finish(11)
    assert part.position == 14
    part.finish(14)
    assert part.position == 15  # all finished: one past the last
    assert part.unfinished == 0
    assert part.uncommittable == 0


def test_gaps_in_offsets_are_not_waited_for() -> None:
    part = PartitionOffsets()
    for offset in (3, 7, 8, 20):
        part.dispatch(offset)
    part.finish(3)
    assert part.position == 7
    part.finish(20)
    part.finish(8)
    assert part.position == 7
    part.finish(7)
    assert part.position == 21


def test_finishing_twice_counts_once() -> None:
    part = PartitionOffsets()
    part.dispatch(0)
    part.dispatch(1)
    part.finish(1)
    part.finish(1)
    assert part.unfinished == 1
    part.finish(0)
    part.finish(0)
    assert part.unfinished == 0
    assert part.finished_count == 2


def test_offsets_must_increase() -> None:
    part = PartitionOffsets()
    part.dispatch(5)
    with pytest.raises(ValueError, match="must increase"):
        part.dispatch(5)
    with pytest.raises(ValueError, match="never dispatched"):
        part.finish(6)


def test_random_completion_order_matches_a_brute_force_model() -> None:
    rng = random.Random(7)
    part = PartitionOffsets()
    offsets = sorted(rng.sample(range(1000), 200))
    for offset in offsets:
        part.dispatch(offset)
    order = offsets[:]
    rng.shuffle(order)
    done: set[int] = set()
    for offset in order:
        part.finish(offset)
        done.add(offset)
        unfinished = [o for o in offsets if o not in done]
        expected = unfinished[0] if unfinished else offsets[-1] + 1
        assert part.position == expected
        assert part.uncommittable == sum(1 for o in offsets if o >= expected)
    assert part.unfinished == 0


def test_tracker_reports_only_moved_positions() -> None:
    tracker = OffsetTracker()
    a = tracker.assign(("t", 0))
    b = tracker.assign(("t", 1))
    a.dispatch(0)
    b.dispatch(0)
    assert tracker.to_commit() == {("t", 0): 0, ("t", 1): 0}
    tracker.mark_committed(tracker.to_commit())
    assert tracker.to_commit() == {}
    a.finish(0)
    assert tracker.to_commit() == {("t", 0): 1}
    assert tracker.unfinished == 1
    assert tracker.uncommittable == 1


def test_revoked_partition_is_detached_and_reassignment_starts_fresh() -> None:
    tracker = OffsetTracker()
    old = tracker.assign(("t", 0))
    old.dispatch(4)
    old.dispatch(5)
    revoked = tracker.revoke(("t", 0))
    assert revoked is old
    assert old.detached
    assert tracker.positions() == {}
    new = tracker.partition(("t", 0))
    assert new is not old
    new.dispatch(4)
    old.finish(4)  # a late result from the old assignment changes nothing now
    assert tracker.positions() == {("t", 0): 4}
    assert tracker.revoke(("t", 9)) is None
