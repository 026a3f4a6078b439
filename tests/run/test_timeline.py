"""Known answers for the per-second timeline, on synthetic receipts and samples."""

from __future__ import annotations

from poolbench.run.samples import MetricSample, ProcessSample
from poolbench.run.timeline import nearest_rank, timeline
from tests.run.receipts import MS, T0, Rec, S


def test_nearest_rank() -> None:
    assert nearest_rank([], 99) is None
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 99) == 4.0


def test_timeline_leaves_gaps_where_nothing_happened() -> None:
    receipts = [Rec("a", T0, T0 + 100 * MS), Rec("b", T0 + 2 * S, T0 + 2 * S + 300 * MS)]
    rows = timeline(
        receipts,
        origin_ns=T0,
        end_ns=T0 + 3 * S,
        metric_samples=[MetricSample(t_ns=T0 + S // 2, queue_depth=4, busy_workers=2)],
        process_samples=[ProcessSample(t_ns=T0, role="consumer", rss_bytes=40 * MS, cpu_percent=1)],
    )
    assert [r.delivered_per_s for r in rows] == [1, 0, 1]
    assert [r.p99_ms for r in rows] == [100.0, None, 300.0]
    assert [r.queue_depth for r in rows] == [4.0, None, None]
    assert [r.rss_mb for r in rows] == [40.0, None, None]


def test_timeline_carries_retries_dead_letters_and_kafka_lag_per_second() -> None:
    """The consumer's counters become rates per second; its lag sits beside the queue."""
    scrape = [
        # Before the load: the counters' start.
        MetricSample(t_ns=T0 - S // 2, queue_depth=0, busy_workers=0, retried=1, dead_lettered=0),
        MetricSample(
            t_ns=T0 + S // 4, queue_depth=0, busy_workers=1, retried=3, dead_lettered=0, lag=5
        ),
        MetricSample(
            t_ns=T0 + 3 * S // 4, queue_depth=2, busy_workers=1, retried=5, dead_lettered=1, lag=15
        ),
        # Second 1: no scrape. Second 2: the counter grew by 4 since second 0's last.
        MetricSample(
            t_ns=T0 + 2 * S + S // 2, queue_depth=0, busy_workers=0, retried=9, dead_lettered=1
        ),
    ]
    rows = timeline([], origin_ns=T0, end_ns=T0 + 3 * S, metric_samples=scrape)
    assert [r.retried_per_s for r in rows] == [4.0, None, 4.0]
    assert [r.dead_lettered_per_s for r in rows] == [1.0, None, 0.0]
    assert [r.lag for r in rows] == [10.0, None, None]  # not exported in the last scrape
    assert [r.queue_depth for r in rows] == [1.0, None, 0.0]
    # A foreign consumer without these metrics: None, not 0.
    plain = timeline(
        [],
        origin_ns=T0,
        end_ns=T0 + S,
        metric_samples=[MetricSample(t_ns=T0, queue_depth=1, busy_workers=1)],
    )
    assert (plain[0].retried_per_s, plain[0].dead_lettered_per_s, plain[0].lag) == (None,) * 3
