"""Known answers for the measuring arithmetic, on synthetic receipts (exact, no clocks)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import pytest

from poolbench.errors import ConfigError
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.run.measure import (
    MIN_WINDOW_SAMPLES,
    Accounting,
    HarnessLoad,
    LoadMode,
    MetricSample,
    PointInputs,
    ProcessSample,
    Throughput,
    Window,
    distinct_receipts,
    ideal_throughput,
    in_window,
    latencies,
    measure,
    nearest_rank,
    resource_use,
    steady_window,
    throughput,
    timeline,
    warnings_for,
)

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


@dataclass(frozen=True, slots=True)
class Rec:
    id: str
    intended_ns: int | None
    received_ns: int
    started_ns: int | None = None


def paced(rate: float, seconds: float, latency_s: float, *, prefix: str = "m") -> list[Rec]:
    """An open-model schedule at `rate`, each email received `latency_s` after its intended time."""
    count = round(rate * seconds)
    out = []
    for i in range(count):
        intended = T0 + round(i * S / rate)
        out.append(Rec(f"{prefix}{i}", intended, intended + round(latency_s * S)))
    return out


def test_steady_window_starts_after_warmup_and_ends_with_the_load() -> None:
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=2.0)
    assert window.start_ns == T0 + 2 * S
    assert window.end_ns == T0 + 10 * S
    assert window.seconds == 8.0
    assert T0 + 2 * S in window
    assert T0 + 10 * S not in window  # half open
    assert T0 + 2 * S - 1 not in window


def test_warmup_longer_than_the_load_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="warmup"):
        steady_window(load_start_ns=T0, load_end_ns=T0 + 2 * S, warmup_s=2.0)


def test_empty_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty window"):
        Window(start_ns=5, end_ns=5)


def test_duplicates_count_once_and_the_earliest_receipt_is_kept() -> None:
    receipts = [
        Rec("a", T0, T0 + 300 * MS),
        Rec("b", T0, T0 + 100 * MS),
        Rec("a", T0, T0 + 200 * MS),
        Rec("a", T0, T0 + 400 * MS),
        Rec("", T0, T0 + 100 * MS),
    ]
    distinct = distinct_receipts(receipts)
    assert sorted(distinct.first) == ["a", "b"]
    assert distinct.first["a"].received_ns == T0 + 200 * MS
    assert distinct.duplicates == 2
    assert distinct.unidentified == 1


def test_open_model_selects_by_intended_time_saturate_by_received_time() -> None:
    window = Window(start_ns=T0 + 1 * S, end_ns=T0 + 2 * S)
    sent_before_received_inside = Rec("x", T0 + 900 * MS, T0 + 1100 * MS)
    sent_inside_received_after = Rec("y", T0 + 1900 * MS, T0 + 2500 * MS)
    untimed = Rec("z", None, T0 + 1500 * MS)
    receipts = [sent_before_received_inside, sent_inside_received_after, untimed]
    assert [r.id for r in in_window(receipts, window, LoadMode.OPEN)] == ["y"]
    assert [r.id for r in in_window(receipts, window, LoadMode.SATURATE)] == ["x", "z"]


def test_open_model_throughput_is_the_offered_rate_when_the_consumer_keeps_up() -> None:
    receipts = paced(50, 10, 0.1)
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=2)
    result = throughput(receipts, window, LoadMode.OPEN)
    assert result.per_s == pytest.approx(50.0)
    assert result.by_intended_per_s == pytest.approx(50.0)
    assert result.late == 5  # the last 100 ms of the schedule arrive after the load ended
    assert not result.fell_behind


def test_a_backlog_draining_after_the_load_counts_against_its_send_time() -> None:
    # 50/s for 10 s; a 2 s stall near the end delays 100 emails, delivered after the load.
    receipts = []
    for r in paced(50, 10, 0.1):
        assert r.intended_ns is not None
        stalled = T0 + 8 * S <= r.intended_ns < T0 + 10 * S
        receipts.append(Rec(r.id, r.intended_ns, T0 + 10 * S + 500 * MS) if stalled else r)
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=2)
    result = throughput(receipts, window, LoadMode.OPEN)
    # 300 emails intended in the window, all delivered: the consumer caught up.
    assert result.by_intended_per_s == pytest.approx(50.0)
    assert result.late == 100
    # By receive time only 305 landed in the window (the 5 sent just before it
    # included), but the backlog drained 0.5 s after the load: caught up, not behind.
    assert result.by_received_per_s == pytest.approx(305 / 8)
    assert not result.fell_behind
    assert result.per_s == pytest.approx(50.0)


def test_a_consumer_slower_than_the_offered_rate_reports_its_own_rate() -> None:
    # Offered 100/s for 10 s; a consumer that does 50/s receives email i at i / 50 s.
    receipts = [Rec(f"m{i}", T0 + i * 10 * MS, T0 + i * 20 * MS + 100 * MS) for i in range(1000)]
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=2)
    result = throughput(receipts, window, LoadMode.OPEN)
    assert result.by_intended_per_s == pytest.approx(100.0)
    assert result.fell_behind
    assert result.per_s == pytest.approx(50.0, rel=0.01)


def test_saturating_throughput_counts_by_received_time() -> None:
    # 10 workers x 100 ms: 100/s, received from t=0 to t=10 s; intended = release time.
    receipts = [Rec(f"m{i}", T0 + i * 10 * MS - 50 * MS, T0 + i * 10 * MS) for i in range(1000)]
    window = steady_window(load_start_ns=T0, load_end_ns=T0 + 10 * S, warmup_s=4)
    result = throughput(receipts, window, LoadMode.SATURATE)
    assert result.per_s == pytest.approx(100.0)
    assert len(in_window(receipts, window, LoadMode.SATURATE)) == 600


def test_latency_percentiles_and_the_wait_send_split() -> None:
    receipts = [
        Rec(f"m{i}", T0, T0 + (i + 1) * MS + 10 * MS, started_ns=T0 + 10 * MS) for i in range(1000)
    ]
    lat = latencies(receipts)
    assert lat.end_to_end.count == 1000
    assert lat.end_to_end.p50 == pytest.approx(510, rel=0.01)
    assert lat.end_to_end.p99 == pytest.approx(1000, rel=0.01)
    assert lat.wait is not None
    assert lat.send is not None
    assert lat.wait.max == pytest.approx(10, rel=0.01)
    assert lat.send.p50 == pytest.approx(500, rel=0.01)
    assert LatencyHistogram.decode(lat.histogram).count == 1000
    assert lat.untimed == 0


def test_latency_without_started_time_has_no_split_and_untimed_are_counted() -> None:
    lat = latencies([Rec("a", T0, T0 + 100 * MS), Rec("b", None, T0)])
    assert lat.end_to_end.count == 1
    assert lat.end_to_end.p50 == pytest.approx(100, rel=0.01)
    assert lat.wait is None
    assert lat.send is None
    assert lat.untimed == 1


@pytest.mark.parametrize(
    ("workers", "latency_s", "offered", "instances", "expected"),
    [
        (10, 0.1, None, 1, 100.0),
        (10, 0.1, 50.0, 1, 50.0),
        (10, 0.1, 500.0, 1, 100.0),
        (10, 0.1, None, 3, 300.0),
        (1, 0.02, None, 1, 50.0),
        (10, 0.0, 500.0, 1, 500.0),
        (10, 0.0, None, 1, 0.0),
    ],
)
def test_ideal_throughput(
    workers: int, latency_s: float, offered: float | None, instances: int, expected: float
) -> None:
    got = ideal_throughput(
        workers=workers, mean_latency_s=latency_s, offered_per_s=offered, instances=instances
    )
    assert got == pytest.approx(expected)


def test_accounting_lost_excludes_dead_letters_and_broker_drops() -> None:
    acc = Accounting(
        produced=100,
        delivered=90,
        duplicates=3,
        retried=7,
        dead_lettered=4,
        dropped_by_broker=2,
        poison=4,
    )
    assert acc.lost == 4
    assert acc.poison_not_dead_lettered == 0
    assert Accounting(
        produced=10, delivered=12, duplicates=0, retried=0, dead_lettered=0,
        dropped_by_broker=0, poison=0,
    ).lost == 0  # fmt: skip
    assert Accounting(
        produced=10, delivered=8, duplicates=0, retried=0, dead_lettered=1,
        dropped_by_broker=0, poison=3,
    ).poison_not_dead_lettered == 2  # fmt: skip


def test_resource_use_takes_the_role_and_window_only() -> None:
    window = Window(start_ns=T0 + 1 * S, end_ns=T0 + 3 * S)
    samples = [
        ProcessSample(t_ns=T0, role="consumer", rss_bytes=999_000_000, cpu_percent=100),
        ProcessSample(t_ns=T0 + 1 * S, role="consumer", rss_bytes=40_000_000, cpu_percent=10),
        ProcessSample(t_ns=T0 + 2 * S, role="consumer", rss_bytes=60_000_000, cpu_percent=30),
        ProcessSample(t_ns=T0 + 2 * S, role="loadgen", rss_bytes=80_000_000, cpu_percent=70),
        ProcessSample(t_ns=T0 + 3 * S, role="consumer", rss_bytes=999_000_000, cpu_percent=100),
    ]
    use = resource_use(samples, "consumer", window)
    assert use.peak_rss_mb == 60.0
    assert use.mean_rss_mb == 50.0
    assert use.cpu_percent == 20.0
    assert use.samples == 2
    assert resource_use(samples, "sink", window).samples == 0


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 99) == 99.0
    assert nearest_rank(values, 50) == 50.0
    assert nearest_rank(values, 100) == 100.0
    assert nearest_rank(values, 0) == 1.0
    assert nearest_rank([], 99) == 0.0


def test_timeline_bins_rate_p99_queue_and_rss_per_second() -> None:
    receipts = [
        *[Rec(f"a{i}", T0, T0 + i * 10 * MS) for i in range(1, 100)],  # second 0: 99 emails
        Rec("b", T0 + S, T0 + 1500 * MS),  # second 1: one email, 500 ms
        Rec("c", None, T0 + 1600 * MS),  # second 1: untimed, counted as delivered
        Rec("late", T0, T0 + 9 * S),  # after end: ignored
    ]
    rows = timeline(
        receipts,
        origin_ns=T0,
        end_ns=T0 + 3 * S,
        process_samples=[
            ProcessSample(t_ns=T0 + 100 * MS, role="consumer", rss_bytes=30_000_000, cpu_percent=5),
            ProcessSample(t_ns=T0 + 600 * MS, role="consumer", rss_bytes=50_000_000, cpu_percent=5),
            ProcessSample(t_ns=T0 + 600 * MS, role="loadgen", rss_bytes=90_000_000, cpu_percent=5),
        ],
        metric_samples=[
            MetricSample(t_ns=T0 + 100 * MS, queue_depth=4, busy_workers=1),
            MetricSample(t_ns=T0 + 1100 * MS, queue_depth=10, busy_workers=1),
            MetricSample(t_ns=T0 + 1900 * MS, queue_depth=20, busy_workers=1),
        ],
    )
    assert [row.t_s for row in rows] == [0.0, 1.0, 2.0]
    assert [row.delivered_per_s for row in rows] == [99.0, 2.0, 0.0]
    assert rows[0].p99_ms == pytest.approx(990.0)  # rank ceil(0.99 * 99) = 99 of 10..990 ms
    assert rows[1].p99_ms == pytest.approx(500.0)
    assert rows[2].p99_ms == 0.0
    assert [row.queue_depth for row in rows] == [4.0, 15.0, 0.0]
    assert [row.rss_mb for row in rows] == [50.0, 0.0, 0.0]


def _acc(**changes: int) -> Accounting:
    base = {
        "produced": 100,
        "delivered": 100,
        "duplicates": 0,
        "retried": 0,
        "dead_lettered": 0,
        "dropped_by_broker": 0,
        "poison": 0,
    }
    return Accounting(**{**base, **changes})


def test_a_clean_point_has_no_warnings() -> None:
    assert warnings_for(accounting=_acc(), harness=HarnessLoad(), window_samples=1000) == ()


def test_each_problem_is_named() -> None:
    behind = Throughput(
        per_s=50, by_intended_per_s=100, by_received_per_s=50, late=300, fell_behind=True
    )
    warnings = warnings_for(
        accounting=_acc(delivered=90, dropped_by_broker=3, poison=5, dead_lettered=2),
        harness=HarnessLoad(sink_cpu_percent=95, loadgen_cpu_percent=99, loadgen_lag_p99_ms=120),
        window_samples=MIN_WINDOW_SAMPLES - 1,
        throughput=behind,
        unidentified=2,
        untimed=1,
        errors=["consumer exited with code 1"],
        notes=["the consumer left 2 events uncommitted"],
    )
    text = "\n".join(warnings)
    assert warnings[0] == "error: consumer exited with code 1"
    assert "lost 5 of 100" in text
    assert warnings[2] == "the consumer left 2 events uncommitted"  # right after the loss
    assert "broker dropped 3" in text
    assert "3 poison events were not dead-lettered" in text
    assert "sink CPU 95%" in text
    assert "load generator CPU 99%" in text
    assert "p99 lag 120 ms" in text
    assert "fell behind" in text
    assert f"only {MIN_WINDOW_SAMPLES - 1} emails" in text
    assert "2 received emails carried no poolbench id" in text
    assert "1 received emails carried no intended send time" in text


def test_sink_cpu_threshold_scales_with_its_processes() -> None:
    two = HarnessLoad(sink_cpu_percent=150, sink_processes=2)
    assert warnings_for(accounting=_acc(), harness=two, window_samples=1000) == ()
    one = HarnessLoad(sink_cpu_percent=150, sink_processes=1)
    assert len(warnings_for(accounting=_acc(), harness=one, window_samples=1000)) == 1


def _simulate(
    *, rate: float, seconds: float, workers: int, service_s: float, outage: tuple[float, float]
) -> list[Rec]:
    """A FIFO pool of `workers` servers; nothing starts during the outage [t1, t2)."""
    free = [0.0] * workers
    heapq.heapify(free)
    out = []
    for i in range(round(rate * seconds)):
        arrival = i / rate
        start = max(arrival, heapq.heappop(free))
        if outage[0] <= start < outage[1]:
            start = outage[1]
        done = start + service_s
        heapq.heappush(free, done)
        out.append(
            Rec(
                f"m{i}",
                T0 + round(arrival * S),
                T0 + round(done * S),
                started_ns=T0 + round(start * S),
            )
        )
    return out


def test_measure_an_outage_shows_in_p99_coordinated_omission_corrected() -> None:
    # 50/s for 10 s against 10 workers x 100 ms; nothing is sent between 4 s and 6 s.
    receipts = _simulate(rate=50, seconds=10, workers=10, service_s=0.1, outage=(4.0, 6.0))
    result = measure(
        PointInputs(
            receipts=receipts,
            mode=LoadMode.OPEN,
            load_start_ns=T0,
            load_end_ns=T0 + 10 * S,
            warmup_s=2,
            workers=10,
            mean_sink_latency_s=0.1,
            offered_per_s=50,
            produced=len(receipts),
            harness=HarnessLoad(sink_cpu_percent=10),
        )
    )
    assert result.throughput.per_s == pytest.approx(50.0)
    assert result.ideal_per_s == 50.0
    # The first email held by the outage waited the whole 2 s, plus its send.
    assert result.latency.end_to_end.max == pytest.approx(2100, rel=0.01)
    assert result.latency.end_to_end.p99 >= 1500
    assert result.latency.end_to_end.p50 == pytest.approx(100, rel=0.01)
    assert result.latency.wait is not None
    assert result.latency.wait.max == pytest.approx(2000, rel=0.01)
    assert result.accounting.lost == 0
    assert result.window_samples == 400
    assert len(result.timeline) == 11  # 10 s of load and the last email's tenth of a second
    assert result.timeline[5].delivered_per_s == 0.0  # the outage
    assert result.warnings == ()


def test_measure_saturating_point_with_samples_and_losses() -> None:
    # Released 2 s before receipt (the standing backlog), started 100 ms before it.
    receipts = [
        Rec(
            f"m{i}",
            T0 + i * 10 * MS - 2 * S,
            T0 + i * 10 * MS,
            started_ns=T0 + i * 10 * MS - 100 * MS,
        )
        for i in range(1000)
    ]
    samples = [
        ProcessSample(t_ns=T0 + k * 500 * MS, role="consumer", rss_bytes=45_000_000, cpu_percent=30)
        for k in range(20)
    ] + [ProcessSample(t_ns=T0 + 5 * S, role="loadgen", rss_bytes=1, cpu_percent=95.0)]
    result = measure(
        PointInputs(
            receipts=[*receipts, receipts[0]],
            mode=LoadMode.SATURATE,
            load_start_ns=T0,
            load_end_ns=T0 + 10 * S,
            warmup_s=2,
            workers=10,
            mean_sink_latency_s=0.1,
            offered_per_s=None,
            produced=1010,
            retried=4,
            dead_lettered=5,
            process_samples=samples,
        )
    )
    assert result.throughput.per_s == pytest.approx(100.0)
    assert result.ideal_per_s == pytest.approx(100.0)
    # Saturating: the latency is the send time; the backlog wait is in the split.
    assert result.latency.end_to_end.p50 == pytest.approx(100, rel=0.01)
    assert result.latency.wait is not None
    assert result.latency.wait.p50 == pytest.approx(1900, rel=0.01)
    assert result.accounting.delivered == 1000
    assert result.accounting.duplicates == 1
    assert result.accounting.lost == 5
    assert result.consumer.peak_rss_mb == 45.0
    assert result.consumer.cpu_percent == 30.0
    assert result.harness.loadgen_cpu_percent == 95.0
    assert any("lost 5" in w for w in result.warnings)
    assert any("load generator CPU 95%" in w for w in result.warnings)


def test_saturating_latency_falls_back_to_end_to_end_without_a_start_stamp() -> None:
    receipts = [Rec("a", T0, T0 + 300 * MS, started_ns=T0 + 200 * MS), Rec("b", T0, T0 + 2 * S)]
    lat = latencies(receipts, LoadMode.SATURATE)
    assert lat.end_to_end.count == 2
    assert lat.end_to_end.max == pytest.approx(2000, rel=0.01)
    assert lat.end_to_end.avg == pytest.approx(1050, rel=0.01)  # 100 ms send, 2 s end to end
    assert lat.unstarted == 1
    text = warnings_for(
        accounting=_acc(), harness=HarnessLoad(), window_samples=1000, unstarted=lat.unstarted
    )
    assert text == (
        "1 emails carried no worker start time: under a saturating load their latency "
        "includes the wait in the backlog",
    )
    assert latencies(receipts, LoadMode.OPEN).unstarted == 0


def test_broker_drops_are_blamed_only_for_what_is_missing() -> None:
    # Everything arrived, yet the low watermark moved past 300 consumed messages.
    receipts = _simulate(rate=50, seconds=4, workers=10, service_s=0.1, outage=(9.0, 9.0))
    inputs = dict(
        receipts=receipts,
        mode=LoadMode.OPEN,
        load_start_ns=T0,
        load_end_ns=T0 + 4 * S,
        warmup_s=1,
        workers=10,
        mean_sink_latency_s=0.1,
        offered_per_s=50,
        harness=HarnessLoad(sink_cpu_percent=10),
        dropped_by_broker=300,
    )
    complete = measure(PointInputs(produced=len(receipts), **inputs))  # type: ignore[arg-type]
    assert complete.accounting.dropped_by_broker == 0
    assert complete.accounting.lost == 0
    # Ten more were produced and never arrived: the broker accounts for those ten.
    short = measure(PointInputs(produced=len(receipts) + 10, **inputs))  # type: ignore[arg-type]
    assert short.accounting.dropped_by_broker == 10
    assert short.accounting.lost == 0
