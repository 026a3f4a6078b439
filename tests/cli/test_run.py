"""`poolbench run` as a user runs it: a subprocess, a scenario file, a results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from poolbench.cli import exit_codes

ROOT = Path(__file__).resolve().parents[2]

TINY = """\
name: tiny
topic: {name: email-queue, partitions: 2}
sink: {latency: 10ms}
consumer: {workers: 4, buffer: 8}
load: {rate: 40/s, duration: 3s, warmup: 1s, drain: 10s, cooldown: 0s}
gates:
  - lost == 0
  - throughput > 1000000
"""


def poolbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


@pytest.mark.slow
def test_run_writes_results_then_fails_on_the_gate_naming_it(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    done = poolbench(
        "run", str(scenario), "--out", str(tmp_path / "out"), "--json-lines", cwd=tmp_path
    )
    assert done.returncode == 1, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "point_start"
    assert "progress" in kinds
    assert kinds[-2:] == ["point_done", "written"]
    finished = events[-2]
    assert finished["lost"] == 0
    assert finished["throughput_per_s"] == pytest.approx(40, rel=0.15)
    directory = Path(events[-1]["directory"])
    assert directory.parent == tmp_path / "out" / "tiny"
    for name in ("results.json", "results.csv", "report.md"):
        assert (directory / name).is_file()
    stored = json.loads((directory / "results.json").read_text())
    assert len(stored["points"]) == 1
    assert stored["points"][0]["produced"] == 160
    assert "gate 'throughput > 1000000' FAILED" in done.stderr
    assert "measured:" in done.stderr
    assert "lost == 0' FAILED" not in done.stderr


def test_an_invalid_scenario_exits_2_before_anything_starts(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(TINY.replace("workers: 4", "wrokers: 4"))
    done = poolbench("run", str(scenario), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == exit_codes.USAGE
    assert "wrokers" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_part_that_fails_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A harness part failing is not the user's input (exit 2) but a failed run (exit 1)."""
    scenario = tmp_path / "dead.yaml"
    scenario.write_text(
        "name: dead\ntopic: {partitions: 1}\n"
        "consumer: {command: \"python -c 'raise SystemExit(3)'\"}\n"
        "load: {rate: 10/s, duration: 1s, warmup: 0s, drain: 1s, cooldown: 0s}\n"
    )
    done = poolbench("run", str(scenario), "--quiet", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == exit_codes.CHECK_FAILED, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("poolbench: error: ")]
    assert len(errors) == 1, done.stderr
    assert "consumer-0 exited with code 3" in errors[0]
