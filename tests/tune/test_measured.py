from __future__ import annotations

import dataclasses

import pytest

from poolbench.errors import ConfigError
from poolbench.results import Latency, Memory, PointResult
from poolbench.scenario import Consumer, parse_scenario
from poolbench.tune.measured import (
    RunnerMeasure,
    base_scenario,
    latency_hint_s,
    point_scenario,
    to_probe_result,
)
from poolbench.tune.probes import ProbeLoad


def lat(p99: float, avg: float = 10.0) -> Latency:
    return Latency(avg=avg, p50=avg, p90=p99, p95=p99, p99=p99, p999=p99, max=p99)


def result(**kw: object) -> PointResult:
    fields: dict[str, object] = {
        "params": {},
        "repeat": 0,
        "load_mode": "open",
        "throughput_per_s": 190.0,
        "ideal_throughput_per_s": 200.0,
        "latency_ms": lat(120.0),
        "memory_mb": Memory(peak=48.0, mean=45.0),
        "cpu_percent": 30.0,
        "produced": 1000,
        "delivered": 998,
        "lost": 2,
    }
    fields.update(kw)
    if "delivered" in kw and "lost" not in kw:
        fields["lost"] = int(fields["produced"]) - int(fields["delivered"])  # type: ignore[call-overload]
    return PointResult(**fields)  # type: ignore[arg-type]


def test_base_scenario_is_a_valid_scenario() -> None:
    base = base_scenario(rate=300, sink_latency="50ms", duration_s=4, warmup_s=1)
    again = parse_scenario(base.to_dict())
    assert again.to_dict() == base.to_dict()
    assert base.load.rate_per_s == 300
    assert base.sink.latency == "50ms"


def test_point_scenario_sets_the_pool_and_the_load_and_drops_the_sweep() -> None:
    base = parse_scenario(
        {
            "name": "s",
            "sink": {"latency": "20ms"},
            "load": {"rate": "50/s", "duration": "5s"},
            "sweep": {"consumer.workers": [1, 2]},
            "repeats": 3,
        }
    )
    target = point_scenario(base, 12, 34, ProbeLoad.TARGET, 200.0)
    assert (target.consumer.workers, target.consumer.buffer) == (12, 34)
    assert target.load.rate_per_s == 200.0
    assert target.sweep.axes == ()
    assert target.repeats == 1
    assert target.sink == base.sink
    saturate = point_scenario(base, 12, 34, ProbeLoad.SATURATE, 200.0)
    assert saturate.load.saturate


def test_tune_sizes_one_foreign_process() -> None:
    base = base_scenario(rate=10)
    foreign = dataclasses.replace(base, consumer=Consumer(command="./svc", instances=2))
    with pytest.raises(ConfigError):
        point_scenario(foreign, 1, 1, ProbeLoad.TARGET, 10.0)


def test_to_measurement_reads_the_runner_result() -> None:
    m = to_probe_result(result(service_ms=lat(60.0, avg=52.5), cpu_by_part={"sink": 40.0}))
    assert (m.throughput, m.p99_ms, m.lost, m.cpu_percent, m.memory_mb) == (190, 120, 2, 30, 48)
    assert m.send_ms == 52.5
    assert not m.harness_limited


@pytest.mark.parametrize("saturated", [True, False])
def test_harness_saturation_is_the_runners_verdict(saturated: bool) -> None:
    m = to_probe_result(result(harness_saturated=saturated))
    assert m.harness_limited is saturated


def test_a_point_that_measured_nothing_cannot_pass() -> None:
    m = to_probe_result(
        result(
            error="nothing was measured",
            throughput_per_s=None,
            latency_ms=None,
            memory_mb=None,
            cpu_percent=None,
        )
    )
    assert m.throughput == 0.0
    assert m.p99_ms == float("inf")


def test_runner_measure_keeps_every_result_with_unique_params() -> None:
    seen = []

    def run_point(scenario: object) -> PointResult:
        seen.append(scenario)
        return result()

    measure = RunnerMeasure(base=base_scenario(rate=200), rate=200, run_point=run_point)
    measure(10, 20, ProbeLoad.TARGET)
    measure(10, 20, ProbeLoad.SATURATE)
    assert len(seen) == 2
    assert [r.params["load.rate"] for r in measure.results] == [200, "saturate"]
    assert len({r.params_key for r in measure.results}) == 2


def test_latency_hint() -> None:
    assert latency_hint_s("100ms") == pytest.approx(0.1)
    assert latency_hint_s("uniform:50ms..150ms") is None
