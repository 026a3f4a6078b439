"""Priority lanes: the round robin on its own, then through a pool.

Orders come from gated jobs and one worker, so every take is determined; no test depends
on speed or wall time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from poolbench.errors import InvalidPoolSizeError, PoolClosedError, QueueFullError
from poolbench.metrics.clock import ManualClock
from poolbench.pool import LANES, Lane, LaneConfig, LaneQueues, WorkerPool
from tests.pool.test_workers import Recorder, gated, returning, settle

H, N, L = Lane.HIGH, Lane.NORMAL, Lane.LOW
ROUND = [H] * 8 + [N] * 4 + [L]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


def flooded(weights: tuple[int, int, int] = (8, 4, 1), depth: int = 10_000) -> LaneQueues[Lane]:
    queues: LaneQueues[Lane] = LaneQueues(weights, (depth, depth, depth))
    for lane in LANES:
        for _ in range(depth):
            assert queues.append(lane, lane)
    return queues


def take(queues: LaneQueues[Lane], count: int) -> list[Lane]:
    return [queues.popleft() for _ in range(count)]


# ---- the configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer", "weights", "shares"),
    [
        (100, (8, 4, 1), (62, 31, 8)),
        (13, (8, 4, 1), (8, 4, 1)),
        (1, (8, 4, 1), (1, 1, 1)),  # every lane keeps a slot
        (0, (8, 4, 1), (0, 0, 0)),  # hand-off only
        (90, (1, 1, 1), (30, 30, 30)),
    ],
)
def test_buffer_shares_follow_the_weights(
    buffer: int, weights: tuple[int, int, int], shares: tuple[int, int, int]
) -> None:
    assert LaneConfig(weights=weights).lane_buffers(buffer) == shares
    assert sum(shares) - buffer in range(3)


def test_explicit_lane_buffers_win_and_set_the_pool_buffer() -> None:
    config = LaneConfig(buffers=(5, 0, 2))
    assert config.lane_buffers(100) == (5, 0, 2)
    assert WorkerPool(1, 100, lanes=config).buffer == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": (8, 4, 0)}, "lane weights must be integers of at least 1"),
        ({"weights": (8, 4)}, "lane weights must be three integers"),
        ({"weights": (8, 4, 1.5)}, "lane weights must be integers of at least 1"),
        ({"weights": (True, 4, 1)}, "lane weights must be integers of at least 1"),
        ({"buffers": (1, -1, 1)}, "lane buffers must be integers of at least 0"),
        ({"buffers": [1, 1, 1]}, "lane buffers must be three integers"),
    ],
)
def test_invalid_lane_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidPoolSizeError, match=message):
        LaneConfig(**kwargs)  # type: ignore[arg-type]


# ---- the round robin, step by step ----------------------------------------------------


def test_backlogged_lanes_go_eight_four_one() -> None:
    assert take(flooded(), 3 * len(ROUND)) == ROUND * 3


def test_shares_over_1300_takes() -> None:
    counts = Counter(take(flooded(), 1300))
    assert abs(counts[H] - 800) <= 1
    assert abs(counts[N] - 400) <= 1
    assert abs(counts[L] - 100) <= 1


@pytest.mark.parametrize("start", range(13))
def test_shares_over_any_window_of_1300_takes(start: int) -> None:
    # Not only from a round's start: every window of 100 rounds' length.
    counts = Counter(take(flooded(), start + 1300)[start:])
    deviations = [
        abs(counts[lane] - share) for lane, share in zip(LANES, (800, 400, 100), strict=True)
    ]
    assert max(deviations) <= 1, counts


def test_an_empty_lane_leaves_its_share_to_the_others() -> None:
    queues: LaneQueues[Lane] = LaneQueues((8, 4, 1), (100, 100, 100))
    for _ in range(50):
        queues.append(N, N)
        queues.append(L, L)
    assert take(queues, 10) == [N] * 4 + [L] + [N] * 4 + [L]
    queues.append(H, H)  # high comes back: taken next, it still has its credit
    assert queues.popleft() is H


def test_highest_non_empty_lane_first_when_not_backlogged() -> None:
    queues: LaneQueues[str] = LaneQueues((8, 4, 1), (10, 10, 10))
    queues.append(L, "low")
    queues.append(N, "normal")
    queues.append(H, "high")
    assert [queues.popleft() for _ in range(3)] == ["high", "normal", "low"]
    assert not queues.any_queued() and len(queues) == 0
    with pytest.raises(IndexError):
        queues.popleft()


def test_a_full_lane_refuses_only_its_own_items() -> None:
    queues: LaneQueues[int] = LaneQueues((8, 4, 1), (2, 0, 1))
    assert [queues.append(H, 1), queues.append(H, 2), queues.append(H, 3)] == [True, True, False]
    assert not queues.append(N, 4)  # a lane of 0 slots: hand-off only
    assert queues.append(L, 5)
    assert [queues.has_room(lane) for lane in LANES] == [False, False, False]
    assert list(queues.drain()) == [1, 2, 5]


@pytest.mark.parametrize("seed", range(20))
def test_no_lane_waits_longer_than_the_bound(seed: int) -> None:
    """Random arrivals and weights: once first in its lane, an item waits at most
    2 * (sum of the other weights) takes, whatever the other lanes hold."""
    rng = random.Random(seed)
    weights = (rng.randint(1, 10), rng.randint(1, 10), rng.randint(1, 10))
    queues: LaneQueues[int] = LaneQueues(weights, (10_000, 10_000, 10_000))
    bound = [2 * (sum(weights) - w) for w in weights]
    head_since: list[int | None] = [None, None, None]  # take count when the head arrived
    worst = [0, 0, 0]
    serial = 0
    taken = 0
    for _ in range(5_000):
        for lane in LANES:
            # High is nearly always flooded; the others come and go.
            chance = 0.95 if lane is H else rng.random()
            if rng.random() < chance:
                if not queues.queues[lane]:
                    head_since[lane] = taken
                serial += 1
                queues.append(lane, serial * 3 + lane)
        if queues.any_queued():
            lane = Lane(queues.popleft() % 3)
            waited = taken - (head_since[lane] or 0)
            worst[lane] = max(worst[lane], waited)
            assert waited <= bound[lane], (weights, lane, waited)
            taken += 1
            head_since[lane] = taken if queues.queues[lane] else None
    assert worst[L] > 0  # the flood really made low wait


# ---- through a pool -----------------------------------------------------------------


def recording(order: list[Lane], lane: Lane) -> Callable[[], Awaitable[object]]:
    async def job() -> object:
        order.append(lane)
        return lane

    return job


async def backlogged_pool(
    counts: tuple[int, int, int], recorder: Recorder, config: LaneConfig | None = None
) -> tuple[WorkerPool, asyncio.Event, list[Lane]]:
    """One worker held by a gated job while `counts` jobs per lane queue behind it."""
    order: list[Lane] = []
    gate = asyncio.Event()
    config = config if config is not None else LaneConfig(buffers=counts)
    pool = WorkerPool(1, 0, on_result=recorder, lanes=config)
    await pool.start()
    pool.submit_nowait(gated(gate), N)  # handed straight to the worker: no credit spent
    await settle()
    for lane, count in zip(LANES, counts, strict=True):
        for _ in range(count):
            pool.submit_nowait(recording(order, lane), lane)
    return pool, gate, order


async def test_one_worker_takes_eight_four_one(recorder: Recorder) -> None:
    pool, gate, order = await backlogged_pool((16, 8, 2), recorder)
    assert [s.queued for s in pool.stats.lanes] == [16, 8, 2]
    gate.set()
    await recorder.wait_for(27)
    assert order == ROUND * 2
    assert [r.lane for r in recorder.results[1:]] == ROUND * 2  # results carry the lane
    await pool.stop()


async def test_pool_shares_over_1300_takes(recorder: Recorder) -> None:
    pool, gate, order = await backlogged_pool((1300, 1300, 1300), recorder)
    gate.set()
    await recorder.wait_for(1301)
    counts = Counter(order[:1300])
    assert abs(counts[H] - 800) <= 1 and abs(counts[N] - 400) <= 1 and abs(counts[L] - 100) <= 1
    await pool.stop(timeout=None)


async def test_low_moves_while_high_floods(recorder: Recorder) -> None:
    """Every high job submits another: the high lane never empties, low still runs."""
    order: list[Lane] = []
    gate = asyncio.Event()
    pool = WorkerPool(1, 100, on_result=recorder, lanes=LaneConfig())
    await pool.start()
    pool.submit_nowait(gated(gate), N)
    await settle()

    def flood() -> Callable[[], Awaitable[object]]:
        async def job() -> object:
            order.append(H)
            if len(order) < 500:
                pool.submit_nowait(flood(), H)
            return None

        return job

    for _ in range(20):
        pool.submit_nowait(flood(), H)
    lows_done = asyncio.Event()

    async def low() -> None:
        order.append(L)
        if order.count(L) == 5:
            lows_done.set()

    for _ in range(5):
        pool.submit_nowait(low, L)
    gate.set()
    await asyncio.wait_for(lows_done.wait(), timeout=30)
    low_at = [i for i, lane in enumerate(order) if lane is L]
    assert low_at == [8, 17, 26, 35, 44]  # the 9th take of every round
    await pool.stop(timeout=0)


async def test_a_full_lane_does_not_block_another(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poolbench.pool")
    gate = asyncio.Event()
    pool = WorkerPool(1, 0, on_result=recorder, lanes=LaneConfig(buffers=(1, 1, 1)))
    await pool.start()
    pool.submit_nowait(gated(gate, "running"), N)
    await settle()
    pool.submit_nowait(gated(gate, "low-1"), L)
    assert not pool.has_room_for(L)
    assert pool.has_room_for(H) and pool.has_room_for(N) and pool.has_room
    for _ in range(3):
        with pytest.raises(QueueFullError, match="lane low is full"):
            pool.submit_nowait(returning("refused"), L)
    pool.submit_nowait(gated(gate, "high-1"), H)  # the full low lane takes nothing from high
    waiting_low = asyncio.create_task(pool.submit(gated(gate, "low-2"), lane=L))
    await settle()
    assert not waiting_low.done()
    await asyncio.wait_for(pool.submit(gated(gate, "normal-1"), lane=N), timeout=30)
    stats = pool.stats
    assert [(s.submitted, s.rejected, s.queued) for s in stats.lanes] == [
        (1, 0, 1),
        (2, 0, 1),
        (1, 3, 1),
    ]
    assert (stats.rejected, stats.queued, stats.running) == (3, 3, 1)
    full = [r.message for r in caplog.records if "Worker pool job queue is full" in r.message]
    assert full == ["Worker pool job queue is full in lane low (1 workers busy, 1 slots)"]
    gate.set()
    await waiting_low
    await recorder.wait_for(5)
    assert [r.value for r in recorder.results] == [
        "running",
        "high-1",
        "normal-1",
        "low-1",
        "low-2",
    ]
    await pool.stop()


async def test_a_waiting_submit_wakes_only_when_its_lane_has_room() -> None:
    gates = {lane: asyncio.Event() for lane in LANES}
    hold = asyncio.Event()
    pool = WorkerPool(1, 0, lanes=LaneConfig(buffers=(2, 0, 1)))
    await pool.start()
    pool.submit_nowait(gated(hold), N)
    await settle()
    pool.submit_nowait(gated(gates[H]), H)
    pool.submit_nowait(gated(gates[H]), H)
    pool.submit_nowait(gated(gates[L]), L)
    waiting_low = asyncio.create_task(pool.submit(returning("low"), lane=L))
    waiting_high = asyncio.create_task(pool.submit(returning("high"), lane=H))
    await settle()
    hold.set()  # the worker takes a high job: room in high only
    await settle()
    assert waiting_high.done() and not waiting_low.done()
    gates[H].set()  # both high jobs end, then the low job is taken: room in low
    await asyncio.wait_for(waiting_low, timeout=30)
    gates[L].set()
    summary = await pool.stop()
    assert summary.finished == 6


async def test_normal_lane_of_zero_slots_waits_for_an_idle_worker() -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 0, lanes=LaneConfig(buffers=(0, 0, 3)))
    await pool.start()
    pool.submit_nowait(gated(gate), L)
    await settle()
    pool.submit_nowait(gated(gate), L)
    waiting = asyncio.create_task(pool.submit(returning(0), lane=N))
    await settle()
    assert not waiting.done()
    gate.set()  # the worker takes the queued low job, then goes idle: hand-off to normal
    await asyncio.wait_for(waiting, timeout=30)
    assert (await pool.stop()).finished == 3


async def test_stop_abandons_and_counts_per_lane(recorder: Recorder) -> None:
    never = asyncio.Event()
    pool = WorkerPool(1, 10, on_result=recorder, lanes=LaneConfig(buffers=(5, 5, 5)))
    await pool.start()
    pool.submit_nowait(returning("quick"), H)
    await settle()
    pool.submit_nowait(gated(never), H)  # runs forever
    await settle()
    for lane, count in ((N, 2), (L, 3)):
        for _ in range(count):
            pool.submit_nowait(gated(never), lane)
    summary = await pool.stop(timeout=0.05)
    assert summary.timed_out and (summary.finished, summary.abandoned) == (1, 6)
    assert [s.abandoned for s in summary.stats.lanes] == [1, 2, 3]
    assert [s.queued for s in summary.stats.lanes] == [0, 0, 0]
    cancelled = Counter(r.lane for r in recorder.results if r.cancelled)
    assert cancelled == {H: 1, N: 2, L: 3}
    with pytest.raises(PoolClosedError):
        pool.submit_nowait(returning(0), H)


async def test_graceful_stop_drains_every_lane(recorder: Recorder) -> None:
    pool, gate, order = await backlogged_pool((3, 2, 1), recorder)
    stopping = asyncio.create_task(pool.stop(timeout=None))
    await settle()
    gate.set()
    summary = await stopping
    assert (summary.finished, summary.abandoned) == (7, 0)
    assert order == [H, H, H, N, N, L]


async def test_buffer_zero_with_lanes_hands_jobs_to_idle_workers(recorder: Recorder) -> None:
    gate = asyncio.Event()
    async with WorkerPool(2, 0, on_result=recorder, lanes=LaneConfig()) as pool:
        assert pool.buffer == 0 and [s.buffer for s in pool.stats.lanes] == [0, 0, 0]
        pool.submit_nowait(gated(gate, "a"), L)
        pool.submit_nowait(gated(gate, "b"), H)
        assert not any(pool.has_room_for(lane) for lane in LANES)
        for lane in LANES:
            with pytest.raises(QueueFullError):
                pool.submit_nowait(returning("refused"), lane)
        waiting = asyncio.create_task(pool.submit(gated(gate, "c"), lane=N))
        await settle()
        assert not waiting.done()
        gate.set()
        await waiting
        await recorder.wait_for(3)
    assert sorted((str(r.value), r.lane) for r in recorder.results) == [
        ("a", L),
        ("b", H),
        ("c", N),
    ]
    assert [s.rejected for s in pool.stats.lanes] == [1, 1, 1]


async def test_queue_wait_per_lane_on_a_manual_clock(recorder: Recorder) -> None:
    clock = ManualClock()
    gate = asyncio.Event()

    async def tick() -> None:
        clock.advance(1.0)  # every job takes one second

    async with WorkerPool(1, 10, on_result=recorder, clock=clock, lanes=LaneConfig()) as pool:
        pool.submit_nowait(gated(gate), N)
        await settle()
        pool.submit_nowait(tick, L)
        for _ in range(3):
            pool.submit_nowait(tick, H)
        gate.set()
        await recorder.wait_for(5)
    waits = [(r.lane, r.queue_wait_s) for r in recorder.results[1:]]
    # Submitted at t=0; high goes first although low came first.
    assert waits == [(H, 0.0), (H, 1.0), (H, 2.0), (L, 3.0)]


async def test_a_pool_without_lanes_ignores_the_lane(recorder: Recorder) -> None:
    gate = asyncio.Event()
    async with WorkerPool(1, 3, on_result=recorder) as pool:
        pool.submit_nowait(gated(gate, 0), L)
        await settle()
        for value, lane in ((1, L), (2, N), (3, H)):
            pool.submit_nowait(gated(gate, value), lane)
        assert not pool.has_room_for(H)  # one queue: full for every lane
        with pytest.raises(QueueFullError, match="job queue is full"):
            pool.submit_nowait(returning(4), H)
        gate.set()
        await recorder.wait_for(4)
    assert [r.value for r in recorder.results] == [0, 1, 2, 3]  # FIFO, not by lane
    assert {r.lane for r in recorder.results} == {N}
    assert pool.stats.lanes == () and pool.lane_config is None


async def test_lanes_from_another_thread(recorder: Recorder) -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 0, on_result=recorder, lanes=LaneConfig(buffers=(3, 0, 2)))
    await pool.start()
    pool.submit_nowait(gated(gate), N)
    await settle()
    high = [gated(gate, f"h{i}") for i in range(5)]
    low = [gated(gate, f"l{i}") for i in range(5)]

    def from_thread() -> tuple[int, int, BaseException | None]:
        queued_high = pool.submit_batch_threadsafe(high, lane=H).result(timeout=30)
        queued_low = pool.submit_batch_threadsafe(low, lane=L).result(timeout=30)
        refused = pool.submit_threadsafe(returning(0), lane=L).exception(timeout=30)
        return queued_high, queued_low, refused

    queued_high, queued_low, refused = await asyncio.to_thread(from_thread)
    assert (queued_high, queued_low) == (3, 2)  # a full high lane ended only its own batch
    assert isinstance(refused, QueueFullError)

    def waiting_from_thread() -> None:
        pool.submit_threadsafe(returning("n"), wait=True, lane=N).result(timeout=30)

    waiter = asyncio.create_task(asyncio.to_thread(waiting_from_thread))
    gate.set()
    await asyncio.wait_for(waiter, timeout=30)
    await recorder.wait_for(7)
    assert [r.lane for r in recorder.results] == [N, H, H, H, L, L, N]
    await pool.stop()


async def test_a_cancelled_waiter_passes_its_wake_up_on_in_its_lane(recorder: Recorder) -> None:
    gate, gate_low = asyncio.Event(), asyncio.Event()
    pool = WorkerPool(1, 0, on_result=recorder, lanes=LaneConfig(buffers=(0, 0, 1)))
    await pool.start()
    waiters: list[asyncio.Task[None]] = []

    async def low_that_cancels_the_first_waiter() -> str:
        # Runs right after its take woke the first waiter, before that waiter resumed.
        waiters[0].cancel()
        await gate_low.wait()
        return "low-1"

    pool.submit_nowait(gated(gate, "running"), N)
    await settle()
    pool.submit_nowait(low_that_cancels_the_first_waiter, L)
    waiters.append(asyncio.create_task(pool.submit(returning("first"), lane=L)))
    waiters.append(asyncio.create_task(pool.submit(returning("second"), lane=L)))
    await settle()
    gate.set()
    await asyncio.wait_for(waiters[1], timeout=30)  # woken by the pass-on, not by a take
    assert waiters[0].cancelled()
    gate_low.set()
    await recorder.wait_for(3)
    assert [r.value for r in recorder.results] == ["running", "low-1", "second"]
    await pool.stop()


async def test_has_room_is_the_normal_lanes_and_a_timed_out_wait_leaves_no_trace() -> None:
    gate = asyncio.Event()
    pool = WorkerPool(1, 0, lanes=LaneConfig(buffers=(1, 0, 1)))
    await pool.start()
    pool.submit_nowait(gated(gate), H)
    await settle()
    assert pool.has_room_for(H) and not pool.has_room  # normal has no slot, no worker idle
    with pytest.raises(TimeoutError):
        await pool.submit(returning(0), timeout=0.01, lane=N)
    assert pool.stats.submitted == 1
    gate.set()
    await asyncio.wait_for(pool.submit(returning(0), lane=N), timeout=30)
    assert (await pool.stop()).finished == 2
