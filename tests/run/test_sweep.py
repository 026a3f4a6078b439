"""The sweep: points into a ResultSet, events in order, a stop keeps what was measured."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from poolbench.metrics.histogram import LatencyHistogram
from poolbench.run.accounting import Acked
from poolbench.run.figures import LoadMode
from poolbench.run.measure import PointInputs, measure
from poolbench.run.samples import ProcessSample
from poolbench.run.sweep import RunEvent, run_scenario, to_point_result, with_overrides
from poolbench.scenario import expand, parse_scenario

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


class Rec:
    def __init__(self, i: int) -> None:
        self.id = f"m{i}"
        self.intended_ns = T0 + i * 20 * MS
        self.started_ns = self.intended_ns + 5 * MS
        self.received_ns = self.intended_ns + 25 * MS
        self.steps = None


def scenario(**sections: Any) -> Any:
    data: dict[str, Any] = {"name": "sweep-test", "topic": {"name": "email-queue", "partitions": 2}}
    data.update(sections)
    return parse_scenario(data)


def test_to_point_result_carries_every_number() -> None:
    point = expand(
        scenario(sweep={"mode": "zip", "consumer.workers": [3]}, consumer={"buffer": 7})
    )[0]
    measurement = measure(
        PointInputs(
            receipts=[Rec(i) for i in range(500)],
            mode=LoadMode.OPEN,
            load_start_ns=T0,
            load_end_ns=T0 + 10 * S,
            warmup_s=2,
            workers=3,
            mean_sink_latency_s=0.02,
            offered_per_s=50,
            acked=[Acked(id=f"m{i}", partition=0, offset=i) for i in range(502)],
            dead_letters={"m501": "550 rejected"},
            retried=4,
            process_samples=[
                ProcessSample(t_ns=T0 + i * S, role=role, rss_bytes=40 * MS, cpu_percent=cpu)
                for i in range(12)
                for role, cpu in (("consumer", 20.0), ("sink", 30.0), ("machine", 80.0))
            ],
            consumer_hwm_bytes=44 * MS,
            cores=2,
        )
    )
    result = to_point_result(measurement, point, {"workers": 3, "smtp_password": "***"})
    assert dict(result.params) == {"consumer.workers": 3}
    assert result.repeat == 0
    assert result.throughput_per_s == pytest.approx(50.0)
    assert result.ideal_throughput_per_s == pytest.approx(50.0)
    assert result.latency_ms is not None
    assert result.latency_ms.p50 == pytest.approx(25.0, rel=0.01)
    assert result.wait_ms is not None
    assert result.wait_ms.p50 == pytest.approx(5.0, rel=0.01)
    assert result.service_ms is not None
    assert result.service_ms.p50 == pytest.approx(20.0, rel=0.01)
    assert result.load_mode == "open"
    assert result.offered_per_s == pytest.approx(50.0)
    assert result.kept_up is True
    assert result.memory_mb is not None and result.memory_mb.peak == 44.0
    assert dict(result.cpu_by_part) == {"consumer": 20.0, "sink": 30.0, "machine": 80.0}
    assert result.consumer_settings == {"workers": 3, "smtp_password": "***"}
    assert (result.produced, result.delivered, result.dead_lettered, result.retried) == (
        502,
        500,
        1,
        4,
    )
    assert result.lost == 1
    assert result.warnings == measurement.warnings
    assert any("lost 1 of 502" in w for w in result.warnings)
    assert len(result.timeline) == len(measurement.timeline)
    assert result.histogram is not None
    assert LatencyHistogram.decode(result.histogram).count == 400


def test_with_overrides() -> None:
    base = scenario()
    assert base.broker.embedded
    changed = with_overrides(base, bootstrap_servers="kafka:9092", repeats=3)
    assert changed.broker.bootstrap_servers == "kafka:9092"
    assert changed.repeats == 3
    assert len(expand(changed)) == 3
    assert with_overrides(base) == base


@pytest.mark.slow
def test_a_stop_after_the_first_point_keeps_it_and_skips_the_rest() -> None:
    stop = threading.Event()
    events: list[RunEvent] = []

    def on_event(event: RunEvent) -> None:
        events.append(event)
        if event.kind == "point_done":
            stop.set()

    outcome = run_scenario(
        scenario(
            sink={"latency": "5ms"},
            consumer={"workers": 2, "buffer": 4},
            load={"rate": "20/s", "duration": "2s", "warmup": "1s", "drain": "5s"},
            sweep={"mode": "zip", "consumer.workers": [2, 4, 8]},
        ),
        on_event=on_event,
        stop=stop,
    )
    assert outcome.interrupted
    assert outcome.error is None
    assert not outcome.complete
    points = outcome.result_set.points
    assert len(points) == 1
    assert dict(points[0].params) == {"consumer.workers": 2}
    # Warm-up until steady, then 2 s: 20/s for as long as the load ran.
    assert points[0].load_s is not None and points[0].produced is not None
    assert abs(points[0].produced - 20 * points[0].load_s) <= 2
    assert points[0].lost == 0
    kinds = [e.kind for e in events]
    assert kinds[0] == "point_start"
    assert kinds[-1] == "point_done"
    assert kinds.count("point_start") == 1
    assert {e.total for e in events} == {3}


def test_a_broker_that_goes_away_during_a_point_is_a_one_line_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from poolbench.errors import UnreachableError
    from poolbench.run import sweep

    def gone(*_args: Any, **_kwargs: Any) -> Any:
        raise UnreachableError("Kafka at 127.0.0.1:1 did not answer within 10s")

    monkeypatch.setattr(sweep, "run_point", gone)
    outcome = run_scenario(with_overrides(scenario(), bootstrap_servers="127.0.0.1:1"))
    assert outcome.error is not None
    assert "crashed" not in outcome.error
    assert outcome.error.endswith("did not answer within 10s")
    assert outcome.result_set.partial
