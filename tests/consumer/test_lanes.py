"""The consumer's lane pieces: settings parsing, lane of an event, the commit gate, the backlog.

The commit gate is checked on seeded random sequences (property style): whatever the
order in which jobs finish, the commit position never passes an unfinished offset, the
window stays under `max_gap`, nothing offered is lost, and a crash at any step resends
at most `max_gap - 1` finished emails.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from poolbench.consumer.lanes import (
    MIN_MAX_GAP,
    CommitGate,
    LaneBacklog,
    default_max_gap,
    lane_of,
    lane_of_value,
    parse_lane_weights,
    priority_of,
)
from poolbench.consumer.offsets import PartitionOffsets
from poolbench.errors import ConfigError
from poolbench.pool import LANES, Lane, LaneConfig, Result, WorkerPool
from poolbench.wire import EmailEvent, EmailMessage, encode_event

H, N, L = Lane.HIGH, Lane.NORMAL, Lane.LOW

# ---- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weights"),
    [
        ("8:4:1", (8, 4, 1)),
        (" 10 : 3 : 2 ", (10, 3, 2)),
        ("1:1:1", (1, 1, 1)),
        ((5, 2, 1), (5, 2, 1)),
    ],
)
def test_parse_lane_weights(text: object, weights: tuple[int, int, int]) -> None:
    assert parse_lane_weights(text) == weights


@pytest.mark.parametrize("text", ["8:x", "8:4", "8:4:1:1", "8:0:1", "-1:4:1", "", "8:4:1.5", "a"])
def test_bad_lane_weights_name_the_flag(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_lane_weights(text)
    assert str(info.value) == (
        f"--lane-weights: expected three positive integers high:normal:low, got {text!r}"
    )


def test_bad_lane_weights_name_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^POOLBENCH_LANE_WEIGHTS: expected three .* got 8$"):
        parse_lane_weights(8, "POOLBENCH_LANE_WEIGHTS")


def test_parsed_weights_make_a_pool_config() -> None:
    assert LaneConfig(weights=parse_lane_weights("8:4:1")) == LaneConfig()


# ---- the lane of an event -----------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "lane"),
    [("high", H), ("normal", N), ("low", L), (None, N), ("", N), ("urgent", N), ("HIGH", N)],
)
def test_lane_of(priority: str | None, lane: Lane) -> None:
    assert lane_of(priority) is lane


def event(priority: str = "normal", data: dict[str, object] | None = None) -> bytes:
    return encode_event(
        EmailEvent(
            type="welcome",
            message=EmailMessage(
                id="m-1",
                sender="a@x.test",
                to="b@y.test",
                subject='say "priority": "low"',  # quoted inside a string: not a key
                data=dict(data or {}),
                priority=priority,
            ),
        )
    )


@pytest.mark.parametrize("priority", ["high", "normal", "low"])
def test_priority_read_from_the_raw_value(priority: str) -> None:
    assert priority_of(event(priority)) == priority
    assert lane_of_value(event(priority)) is lane_of(priority)


def test_a_priority_key_inside_data_is_resolved_by_decoding() -> None:
    value = event("high", data={"priority": "low"})
    assert value.count(b'"priority"') == 2
    assert priority_of(value) == "high"


@pytest.mark.parametrize(
    "value",
    [None, b"", b"not json", b'{"message": {"id": "x"}}', b'{"priority": 1, "x": {"priority": 2}}'],
)
def test_no_readable_priority_is_the_normal_lane(value: bytes | None) -> None:
    assert priority_of(value) is None
    assert lane_of_value(value) is N


def test_spaces_around_the_colon() -> None:
    assert priority_of(b'{"message": {"priority" :  "low"}}') == "low"


def test_default_max_gap() -> None:
    assert default_max_gap(10, 100) == 220
    assert default_max_gap(1, 0) == MIN_MAX_GAP


# ---- the commit gate: examples --------------------------------------------------------


def paused(gate: CommitGate[tuple[int, Lane]]) -> bool:
    """Read `paused` through a call, so that mypy does not narrow it between reads."""
    return gate.paused


def test_a_slow_head_holds_back_the_partition_after_max_gap() -> None:
    gate: CommitGate[int] = CommitGate(PartitionOffsets(), max_gap=4)
    assert [gate.offer(o, o) for o in range(10)] == [True] * 4 + [False] * 6
    assert gate.paused and gate.held == 6
    assert [gate.finish(o) for o in (1, 2, 3)] == [[], [], []]  # 0 (slow, low) still runs
    assert gate.offsets.position == 0
    assert gate.finish(0) == [4, 5, 6, 7]  # the window moves to 4..7
    assert gate.offsets.position == 4 and gate.paused
    assert gate.finish(4) == [8]
    assert gate.finish(6) == []  # 5 is now the head
    assert gate.finish(5) == [9]
    assert not gate.paused  # resume the partition


def test_an_idle_partition_admits_any_jump() -> None:
    gate: CommitGate[str] = CommitGate(PartitionOffsets(), max_gap=2)
    assert gate.offer(0, "a")
    gate.finish(0)
    assert gate.offer(1_000, "b")  # nothing unfinished: the window starts here
    assert gate.offer(1_001, "c")
    assert not gate.offer(1_002, "d")  # 1000 unfinished: 1000..1001 is the whole window
    assert gate.held == 1


def test_gaps_in_offsets_count_in_the_window() -> None:
    gate: CommitGate[int] = CommitGate(PartitionOffsets(), max_gap=5)
    assert [gate.offer(o, o) for o in (10, 12, 14, 15)] == [True, True, True, False]


def test_offsets_must_increase() -> None:
    gate: CommitGate[int] = CommitGate(PartitionOffsets(), max_gap=1)
    gate.offer(5, 5)
    with pytest.raises(ValueError, match="must increase"):
        gate.offer(5, 5)
    assert not gate.offer(6, 6)
    with pytest.raises(ValueError, match="must increase"):
        gate.offer(6, 6)


def test_revocation_drops_the_held_items_uncommitted() -> None:
    gate: CommitGate[int] = CommitGate(PartitionOffsets(), max_gap=2)
    for o in range(5):
        gate.offer(o, o)
    assert gate.drop_held() == [2, 3, 4]
    assert not gate.paused
    gate.finish(0)
    gate.finish(1)
    assert gate.offsets.position == 2  # the dropped ones are read again by the next owner


@pytest.mark.parametrize("max_gap", [0, -1, 1.5, True])
def test_bad_max_gap(max_gap: object) -> None:
    with pytest.raises(ConfigError, match="commit window must be at least 1 offset"):
        CommitGate(PartitionOffsets(), max_gap=max_gap)  # type: ignore[arg-type]


# ---- the commit gate: properties on random sequences ---------------------------------


def check_invariants(
    gate: CommitGate[int], offered: list[int], finished: set[int], dispatched: list[int]
) -> None:
    offsets = gate.offsets
    unfinished = [o for o in dispatched if o not in finished]
    position = offsets.position
    if unfinished:
        assert position == min(unfinished)  # never past an unfinished offset, never behind
        assert offsets.last is not None and offsets.last - position < gate.max_gap
    elif dispatched:
        assert position == dispatched[-1] + 1
    # A kill now: Kafka resends every offered offset from the commit position on.
    resent = [o for o in offered if position is None or o >= position]
    assert set(unfinished) <= set(resent)  # nothing unfinished is lost
    assert set(offered[len(dispatched) :]) <= set(resent)  # nor anything held back
    duplicates = [o for o in resent if o in finished]
    assert len(duplicates) <= gate.max_gap - 1
    assert gate.paused == (len(offered) > len(dispatched))


@pytest.mark.parametrize("seed", range(200))
def test_gate_properties_on_random_sequences(seed: int) -> None:
    rng = random.Random(seed)
    max_gap = rng.choice([1, 2, 3, 5, 8, 32])
    gate: CommitGate[int] = CommitGate(PartitionOffsets(), max_gap=max_gap)
    offered: list[int] = []
    dispatched: list[int] = []  # in dispatch order
    finished: set[int] = set()
    running: list[int] = []
    next_offset = rng.randrange(100)
    for _ in range(rng.randrange(50, 400)):
        if rng.random() < 0.55:
            offset = next_offset
            next_offset += 1 if rng.random() < 0.8 else rng.randrange(2, 6)  # compaction gaps
            offered.append(offset)
            if gate.offer(offset, offset):
                dispatched.append(offset)
                running.append(offset)
        elif running:
            # Finish in any order; a "slow" head stays longer sometimes.
            pick = rng.randrange(len(running)) if rng.random() < 0.8 else 0
            offset = running.pop(pick)
            finished.add(offset)
            released = gate.finish(offset)
            dispatched.extend(released)
            running.extend(released)
        assert dispatched == offered[: len(dispatched)]  # dispatch order = offer order
        check_invariants(gate, offered, finished, dispatched)
    while running:  # drain: everything offered gets dispatched exactly once, then committed
        offset = running.pop(rng.randrange(len(running)))
        finished.add(offset)
        released = gate.finish(offset)
        dispatched.extend(released)
        running.extend(released)
        check_invariants(gate, offered, finished, dispatched)
    assert dispatched == offered and finished == set(offered)
    assert not gate.paused
    if offered:
        assert gate.offsets.position == offered[-1] + 1


# ---- the backlog ----------------------------------------------------------------------


def test_backlog_drains_highest_lane_first_and_keeps_each_lanes_order() -> None:
    backlog: LaneBacklog[str] = LaneBacklog()
    for item, lane in [("l1", L), ("h1", H), ("n1", N), ("h2", H), ("l2", L)]:
        backlog.add(lane, item)
    assert backlog.lengths() == (2, 1, 2) and len(backlog) == 5
    room = {H: 1, N: 0, L: 5}
    got: list[tuple[str, Lane]] = []

    def submit(item: str, lane: Lane) -> None:
        room[lane] -= 1
        got.append((item, lane))

    assert backlog.drain(lambda lane: room[lane] > 0, submit) == 3
    assert got == [("h1", H), ("l1", L), ("l2", L)]  # normal is full: it does not stop low
    assert backlog.waiting(H) and backlog.waiting(N) and not backlog.waiting(L)
    assert backlog.remove_if(lambda item: item == "n1") == 1
    assert list(backlog) == ["h2"]


# ---- the pieces together: a simulated consumer, one partition ------------------------


async def test_a_slow_low_email_stalls_its_partition_only_within_the_window() -> None:
    """Pool with lanes + gate + backlog, as the consumer will wire them: one partition of
    mixed priorities; the first low email is slow. High mail keeps flowing until the
    window is used up, the commit never passes the slow one, and all ends committed."""
    max_gap = 20
    gate: CommitGate[tuple[int, Lane]] = CommitGate(PartitionOffsets(), max_gap=max_gap)
    backlog: LaneBacklog[tuple[int, Lane]] = LaneBacklog()
    release_slow = asyncio.Event()
    window_done = asyncio.Event()
    all_done = asyncio.Event()
    done_before_slow: list[int] = []
    rng = random.Random(7)
    lanes = [L] + [rng.choice([H, H, H, N, L]) for _ in range(199)]

    def job(offset: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            if offset == 0:
                await release_slow.wait()
            elif not release_slow.is_set():
                done_before_slow.append(offset)
                if len(done_before_slow) == max_gap - 1:
                    window_done.set()
            return offset

        return run

    def submit(item: tuple[int, Lane], lane: Lane) -> None:
        pool.submit_nowait(job(item[0]), lane)

    def dispatch(item: tuple[int, Lane]) -> None:
        lane = item[1]
        if backlog.waiting(lane) or not pool.has_room_for(lane):
            backlog.add(lane, item)
        else:
            submit(item, lane)

    def on_result(result: Result) -> None:
        assert isinstance(result.value, int)
        for item in gate.finish(result.value):
            dispatch(item)
        backlog.drain(pool.has_room_for, submit)
        if gate.offsets.position == len(lanes):
            all_done.set()

    pool = WorkerPool(4, 8, on_result=on_result, lanes=LaneConfig())
    await pool.start()
    for offset, lane in enumerate(lanes):
        if gate.offer(offset, (offset, lane)):
            dispatch((offset, lane))
    await asyncio.wait_for(window_done.wait(), timeout=30)
    for _ in range(5):
        await asyncio.sleep(0)
    # Stalled: the window is used up behind the slow head, everything in it is done.
    assert gate.paused and gate.offsets.position == 0
    assert sorted(done_before_slow) == list(range(1, max_gap))
    assert Counter(lanes[o] for o in done_before_slow)[H] > 0
    release_slow.set()
    await asyncio.wait_for(all_done.wait(), timeout=30)
    summary = await pool.stop(timeout=30)
    assert summary.finished == len(lanes) and not paused(gate)
    assert gate.offsets.position == len(lanes) and len(backlog) == 0
    assert [s.rejected for s in summary.stats.lanes] == [0, 0, 0]  # has_room_for first
    assert set(lanes) == set(LANES)
