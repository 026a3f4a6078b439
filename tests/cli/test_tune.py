from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def poolbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_explains_every_option() -> None:
    proc = poolbench("tune", "--help")
    assert proc.returncode == 0
    for option in (
        "--rate",
        "--p99",
        "--sink-latency",
        "--scenario",
        "--max-workers",
        "--max-points",
        "--max-time",
        "--out",
        "--headroom",
        "--p99-margin",
    ):
        assert option in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--rate", "fast", "--p99", "500ms"],
        ["--rate", "200/s", "--p99", "soon"],
        ["--rate", "200/s", "--p99", "500ms", "--scenario", "/nonexistent.yaml"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    proc = poolbench("tune", *args, "--out", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


E2E_SCENARIO = """
name: tune-e2e
sink: {latency: 50ms}
topic: {partitions: 8}
consumer: {workers: 10, buffer: 100, connection_reuse: true}
load: {rate: 200/s, duration: 3s, warmup: 1s, drain: 10s, cooldown: 0s}
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_tune_at_200_per_s_and_50_ms_recommends_about_rate_x_send_time(tmp_path: Path) -> None:
    scenario = tmp_path / "tune-e2e.yaml"
    scenario.write_text(E2E_SCENARIO)
    proc = poolbench(
        "tune", "--rate", "200/s", "--p99", "500ms", "--scenario", str(scenario),
        "--max-points", "10", "--headroom", "0%", "--out", str(tmp_path), "--quiet",
        timeout=200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out_dir = Path(proc.stdout.strip().splitlines()[-1])
    data = json.loads((out_dir / "tune.json").read_text())
    workers, buffer = data["workers"], data["buffer"]
    # The connection mode measured (the scenario's) is part of the recommendation.
    assert data["env"] == {
        "EMAIL_WORKER_COUNT": str(workers),
        "EMAIL_WORKER_BUFFER": str(buffer),
        "POOLBENCH_CONNECTION_REUSE": "on",
    }
    assert "--connection-reuse on" in data["command"]
    assert len(data["probes"]) <= 10
    for name in ("tune.md", "tune.png", "results.json"):
        assert (out_dir / name).stat().st_size > 0
    assert f"EMAIL_WORKER_COUNT={workers}" in (out_dir / "tune.md").read_text()
    # Little's law: 200/s needs at least 200/s x 50 ms = 10 busy workers, and about 200/s x
    # the mean send time measured at the setting (the sink's 50 ms plus the round trips and
    # a shared machine's delays): within 20% of that, one worker of slack.
    assert workers >= 10, data
    at_setting = [
        p for p in data["probes"]
        if (p["workers"], p["buffer"], p["load"]) == (workers, buffer, "target")
    ][-1]  # fmt: skip
    busy = 200 * at_setting["send_ms"] / 1000
    assert 0.8 * busy - 1 <= workers <= 1.2 * busy + 1, (busy, data)

    # The recommended setting, run again, meets the target.
    from poolbench.scenario import load_scenario
    from poolbench.tune.measured import point_scenario, to_probe_result
    from poolbench.tune.probes import ProbeLoad, Target
    from poolbench.tune.runner import run_probe

    again = point_scenario(load_scenario(scenario), workers, buffer, ProbeLoad.TARGET, 200)
    assert Target(rate=200, p99_ms=500).failures(to_probe_result(run_probe(again))) == []


def test_an_unreachable_broker_in_the_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "gone.yaml"
    scenario.write_text('name: gone\nbroker: {bootstrap_servers: "127.0.0.1:1"}\n')
    out = tmp_path / "out"
    proc = poolbench(
        "tune", "--rate", "10/s", "--p99", "500ms", "--scenario", str(scenario), "--out", str(out)
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "poolbench: error: Kafka at 127.0.0.1:1 is unreachable (127.0.0.1:1: connection refused)\n"
    )
    assert not out.exists()
