"""The loop-lag probe on real event loops (asyncio's and uvloop), and its histogram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import uvloop

from poolbench.metrics.loop_lag import (
    LoopLag,
    LoopLagProbe,
    bucket_of,
    counts_from_counters,
    counts_to_counters,
    upper_edge_s,
)

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("factory", LOOPS.values(), ids=LOOPS.keys())
def test_a_blocked_loop_shows_as_lag_and_a_free_one_does_not(
    factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """Control and treatment in the same run: the block's length bounds the max from
    below; the free run's p50 stays below the blocked run's max."""

    async def run(block_s: float) -> LoopLag:
        probe = LoopLagProbe(interval_s=0.005)
        probe.start()
        await asyncio.sleep(0.1)
        if block_s:
            time.sleep(block_s)  # noqa: ASYNC251 (the blocking call under test)
        await asyncio.sleep(0.1)
        probe.stop()
        lag = probe.summary()
        assert lag is not None
        return lag

    with asyncio.Runner(loop_factory=factory) as runner:
        free = runner.run(run(0.0))
        blocked = runner.run(run(0.08))
    assert blocked.max_ms >= 80.0 * 0.9  # a timer due during the block ran after it
    assert blocked.max_ms <= (80.0 + 50.0) * 1.1
    assert free.samples >= 5 and blocked.samples >= 5
    assert free.p50_ms < blocked.max_ms
    assert free.p50_ms <= free.p99_ms <= free.max_ms


def test_percentiles_are_bucket_upper_edges_never_below_the_truth() -> None:
    lags_s = [0.001] * 98 + [0.02, 0.3]
    counts: dict[int, int] = {}
    for lag in lags_s:
        counts[bucket_of(lag)] = counts.get(bucket_of(lag), 0) + 1
    summary = LoopLag.from_counts(counts)
    assert summary is not None
    assert summary.samples == 100
    assert 1.0 <= summary.p50_ms <= 1.0 * 1.1
    assert 20.0 <= summary.p99_ms <= 20.0 * 1.1
    assert 300.0 <= summary.max_ms <= 300.0 * 1.1
    assert LoopLag.from_counts({}) is None


def test_buckets_are_ten_percent_wide_and_early_goes_to_the_first() -> None:
    assert bucket_of(-0.001) == bucket_of(0.0) == bucket_of(1e-5) == 0
    for lag in (2e-5, 1e-3, 0.05, 3.0):
        bucket = bucket_of(lag)
        assert upper_edge_s(bucket - 1) < lag <= upper_edge_s(bucket) * (1 + 1e-9)


def test_counts_merge_across_processes_by_adding_counters() -> None:
    one = {bucket_of(0.001): 3, bucket_of(0.01): 1}
    two = {bucket_of(0.001): 1, bucket_of(0.1): 2}
    summed: dict[str, int] = {"received": 5}
    for part in (counts_to_counters(one), counts_to_counters(two)):
        for key, value in part.items():
            summed[key] = summed.get(key, 0) + value
    counts, rest = counts_from_counters(summed)
    assert rest == {"received": 5}
    merged = LoopLag.from_counts(counts)
    assert merged is not None
    assert merged.samples == 7
    assert 100.0 <= merged.max_ms <= 110.0
    assert LoopLag.from_dict(merged.as_dict()) == merged
