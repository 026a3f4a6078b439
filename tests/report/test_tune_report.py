from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from poolbench.report.tune_report import write_tune_report
from poolbench.results import Latency, Memory, PointResult, load
from poolbench.scenario import Scenario
from poolbench.tune.measured import base_scenario
from poolbench.tune.probes import ProbeLoad, SearchLimits, Target
from poolbench.tune.session import tune
from tests.tune.sim import SimSystem


def sim_runner(sim: SimSystem) -> Callable[[Scenario], PointResult]:
    """The runner's contract (scenario in, PointResult out) answered by the simulated pool."""

    def run_point(scenario: Scenario) -> PointResult:
        load = ProbeLoad.SATURATE if scenario.load.saturate else ProbeLoad.TARGET
        m = sim(scenario.consumer.workers, scenario.consumer.buffer, load)
        p = m.p99_ms
        return PointResult(
            params={},
            repeat=0,
            load_mode="saturate",
            throughput_per_s=m.throughput,
            ideal_throughput_per_s=m.throughput,
            latency_ms=Latency(avg=p / 2, p50=p / 2, p90=p, p95=p, p99=p, p999=p, max=p),
            memory_mb=Memory(peak=m.memory_mb, mean=m.memory_mb),
            cpu_percent=m.cpu_percent,
            produced=100,
            delivered=100,
        )

    return run_point


def test_writes_markdown_json_chart_and_a_loadable_result_set(tmp_path: Path) -> None:
    sim = SimSystem(rate=200.0)
    outcome = tune(
        base_scenario(rate=200, sink_latency="50ms"),
        Target(rate=200, p99_ms=500),
        SearchLimits(),
        run_point=sim_runner(sim),
        clock=sim.clock,
    )
    rec = outcome.recommendation
    # The sink latency became the Little's-law hint: nothing below 200/s x 50 ms was tried.
    assert min(p.workers for p in rec.probes) >= 10
    files = write_tune_report(outcome, tmp_path)
    assert f"EMAIL_WORKER_COUNT={rec.workers}" in files.markdown.read_text()
    data = json.loads(files.json.read_text())
    assert data["workers"] == rec.workers
    assert data["scenario"]["sink"]["latency"] == "50ms"
    assert files.chart is not None and files.chart.stat().st_size > 0
    assert files.results is not None
    stored = load(files.results)
    assert len(stored.points) == len(rec.probes)
    assert [p.throughput_per_s for p in stored.points] == [
        p.measurement.throughput for p in rec.probes
    ]
