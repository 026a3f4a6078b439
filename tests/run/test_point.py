"""Known answers end to end: the real broker, sink and consumer process, one point each.

Kept short (a few seconds of load each). Figures are checked against physical bounds
(N workers at latency L never deliver more than N/L), against a consumer held to a known
fraction of its load, and against themselves (Little's law) -- never against tight wall
times. Every part is stopped by the code under test; no child process may survive.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.errors import RunError
from poolbench.gates.absolute import evaluate_gates
from poolbench.orphans import watchdog_pid
from poolbench.run.measure import Measurement
from poolbench.run.point import PointContext, run_point
from poolbench.run.progress import PointProgress
from poolbench.run.sweep import to_point_result
from poolbench.scenario import Point, expand, parse_scenario

pytestmark = pytest.mark.slow


def one_point(**sections: Any) -> Point:
    data: dict[str, Any] = {"name": "t", "topic": {"name": "email-queue", "partitions": 4}}
    data.update(sections)
    points = expand(parse_scenario(data))
    assert len(points) == 1
    return points[0]


_sequence = iter(range(1, 10_000))


@pytest.fixture
def context(embedded_broker: EmbeddedBroker) -> Iterator[PointContext]:
    def create(name: str, partitions: int) -> None:
        embedded_broker.create_topic(TopicSpec(name, partitions))

    yield PointContext(
        bootstrap_servers=embedded_broker.bootstrap_servers,
        create_topic=create,
        run_id="test",
        sequence=next(_sequence),
        ready_timeout_s=60,
        grace_s=5,
    )
    # Whatever happened, the point left no child process behind (but the watchdog, which
    # lives as long as this process: `poolbench.orphans`).
    children = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.status() != "zombie" and p.pid != watchdog_pid()
    ]
    assert children == []


def measured(point: Point, context: PointContext, **kwargs: Any) -> Measurement:
    measurement, _settings = run_point(point, context, **kwargs)
    return measurement


def test_saturating_workers_never_beat_workers_over_latency(context: PointContext) -> None:
    point = one_point(
        sink={"latency": "100ms"},
        consumer={"workers": 10, "buffer": 20, "connection_reuse": True},
        load={"rate": "saturate", "duration": "6s", "warmup": "2s", "drain": "10s"},
    )
    result = measured(point, context)
    assert result.error is None
    assert result.ideal_per_s == pytest.approx(100.0)
    rate, lat = result.throughput, result.latency
    assert rate is not None and lat is not None and lat.service is not None
    # The physical bound: 10 workers at 100 ms deliver at most 100/s (plus the emails in
    # flight when the window opened: at most 10 over its 4 s).
    assert rate.per_s <= 100.0 * (1 + 10 / 400)
    # The instrument agrees with itself: Little's law, 10 busy workers / mean service time.
    assert rate.per_s == pytest.approx(10 / (lat.service.avg / 1000), rel=0.1)
    assert lat.service.p50 >= 100.0  # never faster than the sink
    # End to end includes the wait in Kafka and the queue: never below the service time.
    assert lat.end_to_end is not None and lat.end_to_end.p50 >= lat.service.p50
    assert result.accounting.lost == 0
    assert result.accounting.consistent
    assert result.memory is not None and result.memory.peak_mb >= result.memory.mean_mb > 10
    # Every part's CPU was measured, and the machine's.
    assert {"consumer", "sink", "loadgen", "runner", "machine"} <= set(result.use)
    # The exact CPU cost: from the kernel's counters over an interval inside the window,
    # divided by the emails of that interval; no part runs more than the machine's cores.
    assert {"consumer", "sink", "loadgen"} <= set(result.cpu_costs)
    window = result.window
    assert window is not None
    for cost in result.cpu_costs.values():
        assert window.start_ns <= cost.start_ns < cost.end_ns <= window.end_ns
        assert 0 < cost.cpu_ns <= (cost.end_ns - cost.start_ns) * (os.cpu_count() or 1)
    consumer = result.cpu_costs["consumer"]
    # The interval's emails are at most the window's, and at most 100/s of it.
    assert 0 < consumer.emails <= round(rate.per_s * window.seconds)
    assert consumer.emails <= 100 * consumer.seconds * (1 + 10 / 400) + 1
    assert consumer.us_per_email is not None and consumer.us_per_email > 0
    # Our consumer's threads by name: its event loop and its Kafka poll thread.
    assert {"event loop", "poolbench-poll"} <= set(consumer.threads)
    # (The threads are read just after their process: a few ms of skew at most.)
    assert sum(consumer.threads.values()) <= consumer.cpu_ns + 5_000_000
    stored = to_point_result(result, point)
    assert stored.cpu_us_per_email == pytest.approx(consumer.us_per_email)
    assert stored.sink_cpu_us_per_email is not None
    assert stored.loadgen_cpu_us_per_email is not None
    # The time budget adds up to the service time, and names the sink's 100 ms.
    budget = result.budget
    assert budget is not None and budget.emails > 100
    assert sum(budget.parts().values()) == pytest.approx(budget.send_ms, rel=0.02)
    assert budget.server_latency_ms == pytest.approx(100.0, rel=0.05)


def test_a_consumer_held_to_85_percent_reads_85_percent(context: PointContext) -> None:
    # The sink accepts 170/s of the 200/s offered (token bucket, 4xx above it); the
    # consumer retries every refusal quickly, so it delivers exactly what the sink allows.
    point = one_point(
        sink={"latency": "0ms", "rate_limit": "170/s"},
        consumer={
            "workers": 8,
            "buffer": 50,
            "retries": 1000,
            "retry_backoff": "5ms",
            "env": {"POOLBENCH_BREAKER_THRESHOLD": "1000000", "POOLBENCH_RETRY_MAX": "20ms"},
        },
        load={"rate": "200/s", "duration": "8s", "warmup": "2s", "drain": "30s"},
    )
    measurement = measured(point, context)
    rate = measurement.throughput
    assert rate is not None and rate.offered_per_s is not None
    assert rate.offered_per_s == pytest.approx(200.0)
    assert rate.per_s / rate.offered_per_s == pytest.approx(0.85, abs=0.03)
    assert rate.kept_up is False
    result = to_point_result(measurement, point)
    report = evaluate_gates(["throughput >= 0.95 * offered"], [result])
    assert [v.passed for v in report.verdicts] == [False]


def test_an_open_load_that_is_kept_up_with(context: PointContext) -> None:
    updates: list[PointProgress] = []
    point = one_point(
        sink={"latency": "20ms"},
        consumer={"workers": 10, "buffer": 100},
        load={"rate": "50/s", "duration": "6s", "warmup": "2s", "drain": "10s"},
    )
    result = measured(point, context, on_progress=updates.append)
    rate, window = result.throughput, result.window
    assert rate is not None and rate.kept_up is True and window is not None
    assert result.load_s is not None
    # Physical bounds on the window's count, whatever the window: no more distinct emails
    # than the load had meant by its end (50/s for as long as it ran; an email is never
    # received before it is sent), and no more than the ids the sink received in all.
    # (The former check, `per_s * 4 + backlog_growth == 200`, was true by definition.)
    received = rate.per_s * window.seconds
    assert received <= 50 * result.load_s + 1, (rate, result.load_s)
    assert received <= result.accounting.delivered
    # Kept up, by the offered rate: at least 98% of the 50/s meant for the window.
    assert rate.per_s >= 0.98 * 50
    # The warm-up lasted until the consumer was steady, then the 6 s window: the open
    # schedule produced 50/s for as long as the load ran, all of it delivered.
    assert window.seconds == pytest.approx(6, abs=0.01)
    assert abs(result.accounting.produced - 50 * result.load_s) <= 2
    assert result.accounting.produced == result.accounting.delivered
    assert updates[0].phase == "starting"
    assert "load" in {u.phase for u in updates}
    assert max(u.delivered for u in updates) > 0


def test_an_outage_under_open_load_shows_in_p99(context: PointContext) -> None:
    point = one_point(
        sink={"latency": "20ms", "outages": [{"at": "4s", "duration": "2s"}]},
        consumer={"workers": 10, "buffer": 100, "retry_backoff": "50ms", "retries": 50},
        load={"rate": "50/s", "duration": "7s", "warmup": "1s", "drain": "15s"},
    )
    result = measured(point, context)
    assert result.latency is not None and result.latency.end_to_end is not None
    # Emails intended during the outage waited for it to end: coordinated omission corrected.
    assert result.latency.end_to_end.p99 >= 1500
    assert result.accounting.lost == 0


def test_the_consumer_ignores_the_runners_environment(
    context: PointContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A variable in the user's shell must not change the consumer under test.
    monkeypatch.setenv("EMAIL_WORKER_COUNT", "1")
    monkeypatch.setenv("POOLBENCH_DEBUG_DELAY", "200ms")
    point = one_point(
        sink={"latency": "10ms"},
        consumer={"workers": 5, "buffer": 10},
        load={"rate": "saturate", "duration": "4s", "warmup": "1s", "drain": "10s"},
    )
    measurement, settings = run_point(point, context)
    assert settings["workers"] == 5
    assert settings["debug_delay_s"] == 0
    rate = measurement.throughput
    # With the leaked 200 ms delay and 1 worker it would read under 5/s.
    assert rate is not None and rate.per_s > 50


def test_a_window_that_holds_nothing_is_an_error_with_no_figures(context: PointContext) -> None:
    point = one_point(
        sink={"latency": "0ms"},
        consumer={"workers": 2, "buffer": 10},
        load={"rate": "100/s", "count": 50, "duration": "5s", "warmup": "2s", "drain": "5s"},
    )
    result = measured(point, context)
    assert result.error is not None and "nothing was measured" in result.error
    assert result.throughput is None and result.latency is None
    stored = to_point_result(result, point)
    assert stored.throughput_per_s is None and stored.latency_ms is None
    assert stored.delivered == 50


def test_a_consumer_that_cannot_start_is_a_run_error_and_leaves_nothing(
    context: PointContext,
) -> None:
    point = one_point(
        consumer={"command": "python3 -c 'import sys; sys.exit(4)'", "workers": 2},
        load={"rate": "10/s", "duration": "2s", "warmup": "1s"},
    )
    with pytest.raises(RunError, match="exited with code 4"):
        run_point(point, context)


def test_stop_mid_point_stops_every_part(context: PointContext) -> None:
    stop = threading.Event()
    point = one_point(
        sink={"latency": "10ms"},
        consumer={"workers": 5, "buffer": 10},
        load={"rate": "50/s", "duration": "60s", "warmup": "1s", "drain": "60s"},
    )

    def press_ctrl_c(update: PointProgress) -> None:
        if update.phase == "load" and update.elapsed_s > 2:
            stop.set()

    started = time.monotonic()
    result = measured(point, context, on_progress=press_ctrl_c, stop=stop)
    assert time.monotonic() - started < 45
    assert any("stopped before the load ended" in w for w in result.warnings)
    assert result.accounting.delivered > 0


def test_a_foreign_consumer_that_consumes_nothing_is_reported_with_its_output(
    context: PointContext,
) -> None:
    point = one_point(
        consumer={
            "command": "python3 -c \"import time; print('connected, waiting', flush=True); "
            'time.sleep(600)"',
            "workers": 2,
        },
        load={"rate": "20/s", "duration": "60s", "warmup": "1s", "drain": "2s"},
    )
    started = time.monotonic()
    result = measured(point, context)
    # Cut short: the load stopped once it was clear nothing was consumed.
    assert time.monotonic() - started < 50
    assert result.error is not None
    assert "not consuming" in result.error
    assert "connected, waiting" in result.error
