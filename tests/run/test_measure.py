"""Known answers for the measuring arithmetic, on synthetic receipts (exact, no clocks)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from poolbench.run.accounting import Acked, RetentionSample
from poolbench.run.figures import LoadMode
from poolbench.run.measure import (
    MIN_WINDOW_EMAILS,
    PointInputs,
    measure,
    steady_window,
)
from poolbench.run.samples import ProcessSample, Window
from tests.run.receipts import MS, T0, Rec, S, paced


def served_at(rate: float, capacity: float, seconds: float) -> list[Rec]:
    """Offered at `rate`, served FIFO by a consumer that completes `capacity` per second."""
    out = []
    free_at = T0
    for i in range(round(rate * seconds)):
        intended = T0 + round(i * S / rate)
        start = max(intended, free_at)
        free_at = start + round(S / capacity)
        out.append(Rec(f"m{i}", intended, free_at, start))
    return out


def consumer_samples(seconds: float, rss: int = 40 * MS) -> list[ProcessSample]:
    return [
        ProcessSample(t_ns=T0 + i * S // 4, role="consumer", rss_bytes=rss, cpu_percent=50.0)
        for i in range(round(seconds * 4))
    ]


def inputs(receipts: list[Rec], **overrides: Any) -> PointInputs:
    base = PointInputs(
        receipts=receipts,
        mode=LoadMode.OPEN,
        load_start_ns=T0,
        load_end_ns=T0 + 10 * S,
        warmup_s=2.0,
        workers=10,
        mean_sink_latency_s=0.1,
        offered_per_s=100.0,
        acked=[Acked(id=r.id, partition=0, offset=i) for i, r in enumerate(receipts)],
        process_samples=consumer_samples(12),
        consumer_hwm_bytes=45 * MS,
        cores=2,
    )
    return replace(base, **overrides)


def test_steady_window_starts_after_warmup_and_ends_with_the_load() -> None:
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=2.0)
    assert window == Window(start_ns=T0 + 2 * S, end_ns=T0 + 10 * S)
    assert steady_window(load_start_ns=T0, load_end_ns=T0 + 2 * S, warmup_s=2.0) is None


def test_a_consumer_that_keeps_up_delivers_the_offered_rate_and_kept_up() -> None:
    m = measure(inputs(paced(100, 10, 0.05)))
    assert m.error is None
    assert m.throughput is not None
    assert m.throughput.per_s == pytest.approx(100, rel=0.01)
    assert m.throughput.kept_up is True


def test_a_consumer_held_to_85_percent_reads_85_percent_and_did_not_keep_up() -> None:
    m = measure(inputs(served_at(100, 85, 10)))
    assert m.throughput is not None
    assert m.throughput.per_s / 100 == pytest.approx(0.85, abs=0.03)
    assert m.throughput.kept_up is False
    assert m.throughput.backlog_growth is not None and m.throughput.backlog_growth > 50
    assert any("did not keep up" in w for w in m.warnings)


def test_throughput_is_counted_by_receipt_under_an_open_load_too() -> None:
    # All 800 window emails are intended inside the window but arrive 30 s late: by
    # receipt, nothing was delivered in the window, whatever the intended times say.
    late = paced(100, 10, 30.0)
    m = measure(inputs(late, measured_until_ns=T0 + 41 * S))
    assert m.error is not None and "only 0 emails" in m.error
    assert m.throughput is None and m.latency is None


def test_open_latency_counts_from_the_intended_time_and_covers_late_emails() -> None:
    m = measure(inputs(served_at(100, 85, 10)))
    assert m.latency is not None and m.latency.end_to_end is not None
    assert m.latency.service is not None
    # Coordinated omission corrected: the backlog's wait is in end to end, not in service.
    assert m.latency.end_to_end.p99 > 1000
    assert m.latency.service.p99 == pytest.approx(1000 / 85, rel=0.02)


def test_both_latencies_under_saturation() -> None:
    receipts = paced(100, 10, 2.0, service_s=0.1)
    m = measure(inputs(receipts, mode=LoadMode.SATURATE, offered_per_s=None))
    assert m.latency is not None
    assert m.latency.end_to_end is not None and m.latency.service is not None
    assert m.latency.end_to_end.p50 == pytest.approx(2000, rel=0.01)
    assert m.latency.service.p50 == pytest.approx(100, rel=0.01)
    assert m.throughput is not None and m.throughput.kept_up is None


def test_a_window_under_one_second_is_an_error_not_a_figure() -> None:
    m = measure(inputs(paced(1000, 2.5, 0.01), load_end_ns=T0 + round(2.5 * S)))
    assert m.error is not None and "window lasted 0.500s" in m.error
    assert m.throughput is None


def test_too_few_emails_is_an_error() -> None:
    few = paced(2, 10, 0.01)  # 16 in the window
    m = measure(inputs(few))
    assert m.error is not None and f"(< {MIN_WINDOW_EMAILS})" in m.error
    assert m.warnings[0].startswith("error:")


def test_unsteady_halves_are_warned() -> None:
    first = paced(100, 6, 0.01)
    second = [
        Rec(f"x{i}", T0 + 6 * S + i * S // 50, T0 + 6 * S + i * S // 50 + MS) for i in range(200)
    ]
    m = measure(inputs(first + second, offered_per_s=None, mode=LoadMode.SATURATE))
    assert any(w.startswith("not steady") for w in m.warnings)


def test_memory_peak_is_the_high_water_mark_and_no_sample_is_an_error() -> None:
    m = measure(inputs(paced(100, 10, 0.05)))
    assert m.memory is not None
    assert m.memory.peak_mb == 45.0
    assert m.memory.mean_mb == 40.0
    none = measure(inputs(paced(100, 10, 0.05), process_samples=[]))
    assert none.memory is None
    assert none.error is not None and "no memory or CPU sample" in none.error


def test_losses_and_inconsistencies_are_warned() -> None:
    receipts = paced(100, 10, 0.05)
    acked = [Acked(id=r.id, partition=0, offset=i) for i, r in enumerate(receipts)]
    m = measure(inputs([*receipts[:-5], Rec("stranger", T0, T0 + S)], acked=acked))
    assert m.accounting.lost == 5
    assert any(w.startswith("lost 5 of 1000") for w in m.warnings)
    assert any(w.startswith("inconsistent:") and "stranger" in w for w in m.warnings)


def test_a_saturated_harness_is_named_and_blamed_when_the_figure_is_low() -> None:
    receipts = paced(100, 10, 0.05)
    busy = [
        *consumer_samples(12),
        *(
            ProcessSample(
                t_ns=T0 + i * S // 4, role="sink", rss_bytes=0, cpu_percent=195.0, processes=2
            )
            for i in range(48)
        ),
        *(
            ProcessSample(
                t_ns=T0 + i * S // 4, role="machine", rss_bytes=0, cpu_percent=190.0, processes=0
            )
            for i in range(48)
        ),
    ]
    m = measure(
        inputs(
            receipts, process_samples=busy, mode=LoadMode.SATURATE, offered_per_s=None, workers=20
        )
    )
    assert m.harness_saturated
    text = " | ".join(m.warnings)
    assert "machine busy 190% of 200%" in text
    assert "sink saturated: 195% CPU over 2 process(es)" in text
    assert "the harness set this figure: throughput is 50% of the ideal" in text
    calm = measure(inputs(receipts, mode=LoadMode.SATURATE, offered_per_s=None, workers=20))
    assert not calm.harness_saturated


def test_a_mixed_load_is_split_by_priority() -> None:
    receipts = paced(100, 10, 0.05, service_s=0.02)
    # Every tenth email is high and waits 10 ms; the rest are low and wait 1 s.
    priorities = {}
    shifted = []
    for i, r in enumerate(receipts):
        is_high = i % 10 == 0
        priorities[r.id] = "high" if is_high else "low"
        assert r.intended_ns is not None
        received = r.intended_ns + (10 if is_high else 1000) * MS
        shifted.append(Rec(r.id, r.intended_ns, received, received - 20 * MS))
    m = measure(inputs(shifted, priorities=priorities, measured_until_ns=T0 + 12 * S))
    assert set(m.priorities) == {"high", "low"}
    high, low = m.priorities["high"], m.priorities["low"]
    assert high.throughput_per_s + low.throughput_per_s == pytest.approx(100, rel=0.02)
    assert high.throughput_per_s == pytest.approx(10, rel=0.05)
    assert high.latency.end_to_end is not None and low.latency.end_to_end is not None
    assert high.latency.end_to_end.p99 == pytest.approx(10, rel=0.02)
    assert low.latency.end_to_end.p99 == pytest.approx(1000, rel=0.02)
    row = m.timeline[5]
    assert row.p99_by_priority_ms["high"] == pytest.approx(10.0)
    assert row.p99_by_priority_ms["normal"] is None
    assert measure(inputs(paced(100, 10, 0.05))).priorities == {}


def test_every_email_failing_measures_no_latency_rather_than_zero() -> None:
    """faults.transient 1.0: nothing reaches the sink, so latency is None ("n/a"), the
    point is an error, and the timeline's p99 has gaps rather than 0 ms."""
    produced = paced(100, 10, 0.05)
    m = measure(inputs([], acked=[Acked(id=r.id, partition=0, offset=0) for r in produced]))
    assert m.error is not None and "nothing was measured" in m.error
    assert m.latency is None and m.throughput is None and m.budget is None
    assert m.timeline and all(row.p99_ms is None for row in m.timeline)
    assert m.load_s == 10.0


def test_a_load_used_up_in_the_warm_up_measured_nothing() -> None:
    """load.count reached before the warm-up ended: the window holds no email."""
    early = paced(100, 1.5, 0.01)  # 150 emails, all before the 2 s warm-up ends
    m = measure(inputs(early, load_end_ns=T0 + 10 * S))
    assert m.error is not None and "only 0 emails" in m.error
    assert m.throughput is None and m.latency is None


def test_emails_without_any_poolbench_id_are_one_error_saying_what_to_add() -> None:
    timed = paced(100, 10, 0.05)
    anonymous = [replace(r, id="") for r in timed]
    m = measure(inputs(anonymous, acked=[Acked(id=r.id, partition=0, offset=0) for r in timed]))
    assert m.error is not None and m.throughput is None and m.latency is None
    first = m.error.split("; ")[0]
    assert "none of the 1000 emails at the sink carries a poolbench id" in first
    assert "X-Poolbench-Id" in first and "subject or body" in first


def test_emails_with_an_id_but_no_intended_time_are_an_error_not_a_missing_figure() -> None:
    """Saturating: the window's emails are those received in it, so none is timed."""
    untimed = [replace(r, intended_ns=None) for r in paced(100, 10, 0.05)]
    m = measure(inputs(untimed, mode=LoadMode.SATURATE, offered_per_s=None))
    assert m.error is not None
    assert "carries an intended send time" in m.error


def test_emails_still_in_kafka_fail_the_point_as_drain_incomplete_not_as_loss() -> None:
    """Interrupted or stalled: the last 100 emails were never committed (offsets 900+)."""
    receipts = paced(100, 10, 0.05)
    m = measure(inputs(receipts[:900], acked=inputs(receipts).acked, committed={0: 900}))
    assert (m.accounting.lost, m.accounting.undelivered) == (0, 100)
    assert m.error is not None
    assert "drain incomplete: 100 of 1000 emails were still in Kafka, uncommitted" in m.error
    assert not any(w.startswith("lost") for w in m.warnings)


def test_emails_committed_and_never_sent_are_lost_and_named_so() -> None:
    receipts = paced(100, 10, 0.05)
    kept = receipts[:880] + receipts[900:]
    m = measure(inputs(kept, acked=inputs(receipts).acked, committed={0: 1000}))
    assert (m.accounting.lost, m.accounting.undelivered) == (20, 0)
    assert any(
        w.startswith("lost 20 of 1000 emails: the group committed their offsets")
        for w in m.warnings
    )


def _first_half_dropped(committed: int, allowed: int = 0) -> Any:
    """1,000 emails, the first 50 missing; retention removed offsets below 50 while the
    group had committed `committed`; the scenario allows `allowed` drops."""
    receipts = paced(100, 10, 0.05)
    samples = [RetentionSample(partition=0, low_watermark=50, committed=committed)]
    return measure(
        inputs(
            receipts[50:],
            acked=inputs(receipts).acked,
            retention=samples,
            committed={0: 1000},
            broker_name="embedded broker",
            allowed_drops=allowed,
        )
    )


def test_retention_drops_are_an_error_this_point_measured_the_broker() -> None:
    m = _first_half_dropped(committed=10)
    assert m.accounting.dropped_by_broker == 40 and m.accounting.lost == 10
    assert m.error is not None
    assert "the embedded broker's retention dropped 40 events" in m.error
    assert "this point measured the broker" in m.error


def test_retention_drops_the_scenario_allows_are_said_not_failed() -> None:
    allowed = _first_half_dropped(committed=0, allowed=50)
    assert allowed.accounting.dropped_by_broker == 50 and allowed.accounting.lost == 0
    assert allowed.error is None
    assert any(
        "retention dropped 50 of 1000 events" in w and "allow.retention_drops: 50" in w
        for w in allowed.warnings
    )
    short = _first_half_dropped(committed=0, allowed=49)
    assert short.error is not None
    assert "retention dropped 50 events" in short.error
    assert "(allow.retention_drops: 49)" in short.error


def test_an_adaptive_window_is_the_one_found_and_start_up_is_measured_apart() -> None:
    receipts = paced(100, 10, 0.05)
    m = measure(
        inputs(
            receipts,
            adaptive=True,
            window_ns=(T0 + 4 * S, T0 + 9 * S),
            consumers_started_ns=T0 - 2 * S,
            consumers_ready_ns=None,
        )
    )
    assert m.window == Window(start_ns=T0 + 4 * S, end_ns=T0 + 9 * S)
    assert m.throughput is not None and m.throughput.per_s == pytest.approx(100, rel=0.01)
    assert m.startup is not None
    assert m.startup.ready_s is None
    assert m.startup.first_delivery_s == pytest.approx(2.05)
    assert m.startup.steady_s == pytest.approx(6.0)


def test_an_adaptive_warmup_that_never_got_steady_measured_nothing() -> None:
    m = measure(
        inputs(
            paced(100, 10, 0.05),
            adaptive=True,
            window_ns=None,
            errors=["never steady within load.warmup_max 60s: delivered rate 500.0/s then 100.0/s"],
        )
    )
    assert m.throughput is None and m.latency is None
    assert m.error is not None and m.error.startswith("never steady within load.warmup_max")
    assert "no steady-state window" in m.error


def test_throughput_above_its_bound_by_more_than_the_backlog_is_an_error_naming_both() -> None:
    """An injected inconsistency: 130/s received, every one meant inside the window, for
    100/s offered: no backlog at the window's start can explain the excess."""
    receipts = paced(130, 10, 0.05)
    m = measure(inputs(receipts))
    assert m.error is not None
    assert "throughput 130.0/s is above its bound 100.0/s (offered" in m.error


def test_a_catch_up_above_the_offered_rate_is_explained_by_the_backlog_at_the_start() -> None:
    # Started 4 s late: the window opens with the 400-email backlog and drains it at
    # 500/s capacity; delivered above 100/s, within offered x window + that backlog.
    receipts = served_at_from(100, 500, 10, start_s=4)
    m = measure(inputs(receipts))
    assert m.throughput is not None and m.throughput.per_s > 100
    assert m.error is None or "above its bound" not in m.error


def served_at_from(rate: float, capacity: float, seconds: float, *, start_s: float) -> list[Rec]:
    out = []
    free_at = T0 + round(start_s * S)
    for i in range(round(rate * seconds)):
        intended = T0 + round(i * S / rate)
        begin = max(intended, free_at)
        free_at = begin + round(S / capacity)
        out.append(Rec(f"m{i}", intended, free_at, begin))
    return out


def test_a_saturating_points_wait_is_shown_with_its_cause_the_backlog_kept() -> None:
    # 2 s of queue wait ahead of a 20 ms service: the harness's backlog, not the consumer.
    receipts = [replace(r, started_ns=r.received_ns - 20 * MS) for r in paced(100, 10, 2.0)]
    m = measure(inputs(receipts, mode=LoadMode.SATURATE, offered_per_s=None, kept_backlog=970))
    note = next(w for w in m.warnings if w.startswith("queue wait"))
    assert note.startswith("queue wait, set by the backlog poolbench keeps: 970 emails")
    assert "service p99 20.1 ms" in note  # HdrHistogram bucket of 20 ms
    opened = measure(inputs(receipts, kept_backlog=None))
    assert not any(w.startswith("queue wait") for w in opened.warnings)
