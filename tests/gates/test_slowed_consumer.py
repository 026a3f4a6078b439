"""End to end: a consumer slowed on purpose fails the baseline gate; an unchanged one passes.

A real A/B on this machine, in one test: the same small scenario is run for real
(embedded broker, sink, consumer process, saturating load) three times: unchanged (the
baseline), unchanged again (a second, independent run: A = A), and with the consumer's
hidden `POOLBENCH_DEBUG_DELAY` (set in the scenario's `consumer.env`: the consumer under
test never sees the runner's environment). The delay (50 ms per email on top of the
sink's 20 ms and the stack's own 10-30 ms) at least halves the throughput, so a 40%
threshold catches it with room for this shared machine's noise between two unchanged
runs, which must pass.
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from poolbench.cli import exit_codes

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: slowed
topic: {{partitions: 2}}
sink: {{latency: 20ms}}
consumer: {{workers: 4, buffer: 8, env: {{POOLBENCH_DEBUG_DELAY: {delay}}}}}
load: {{rate: saturate, duration: 4s, warmup: 1s, drain: 3s, cooldown: 0s}}
"""
LIMITS = ("--max-throughput-drop", "40%", "--max-p99-rise", "1000%", "--max-memory-rise", "100%")


def _poolbench(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
    )


def _run(scenario: Path, out: Path) -> Path:
    """One run of `scenario` into `out`; its run folder."""
    done = _poolbench("run", scenario, "--quiet", "--out", out, env={})
    assert done.returncode == exit_codes.OK, done.stdout + done.stderr
    [results] = (out / "slowed").glob("*/results.json")
    return results.parent


@pytest.mark.slow
def test_a_slowed_consumer_fails_the_gate_and_an_unchanged_one_passes(tmp_path: Path) -> None:
    scenarios = {}
    for delay in ("0ms", "50ms"):
        scenarios[delay] = tmp_path / f"slowed-{delay}.yaml"
        scenarios[delay].write_text(SCENARIO.format(delay=delay))
    normal = _run(scenarios["0ms"], tmp_path / "a")
    again = _run(scenarios["0ms"], tmp_path / "a-again")
    slowed = _run(scenarios["50ms"], tmp_path / "b")
    baseline = tmp_path / "baseline.json"
    saved = _poolbench("baseline", "save", normal, baseline, env={})
    assert saved.returncode == exit_codes.OK, saved.stderr

    markdown, junit = tmp_path / "gate.md", tmp_path / "gate.xml"
    # The scenarios differ in the delay alone: that difference is what is compared.
    gate = _poolbench(
        "gate", slowed, "--baseline", baseline, *LIMITS, "--allow-scenario-change",
        "--markdown", markdown, "--junit", junit, env={},
    )  # fmt: skip
    assert gate.returncode == exit_codes.CHECK_FAILED, gate.stdout + gate.stderr
    failing = [line for line in markdown.read_text().splitlines() if "| **SLOWER**" in line]
    assert any("| throughput |" in line for line in failing), markdown.read_text()
    assert "no significance was possible" in markdown.read_text()  # one run a side
    failed = [
        c.get("name")
        for c in ET.parse(junit).getroot().iter("testcase")
        if c.find("failure") is not None
    ]
    assert failed == ["throughput"]

    # A second, independent run of the unchanged consumer: same scenario, other numbers.
    same = _poolbench("gate", again, "--baseline", baseline, *LIMITS, env={})
    assert same.returncode == exit_codes.OK, same.stdout + same.stderr
    assert (again / "results.json").read_text() != (normal / "results.json").read_text()


@pytest.mark.slow
def test_a_consumer_burning_cpu_per_email_reads_at_least_its_burn(tmp_path: Path) -> None:
    """The hidden POOLBENCH_DEBUG_BURN spends a known CPU time per email on the consumer's
    event loop (the calibration's "10% more CPU" side): the measured CPU per email, from
    exact process counters, can never read below it."""
    scenario = tmp_path / "slowed.yaml"
    scenario.write_text(
        SCENARIO.format(delay="0ms").replace(
            "POOLBENCH_DEBUG_DELAY: 0ms", "POOLBENCH_DEBUG_BURN: 3ms"
        )
    )
    run = _run(scenario, tmp_path / "burned")
    [point] = json.loads((run / "results.json").read_text())["points"]
    assert point["error"] is None and point["delivered"] > 0
    assert point["cpu_us_per_email"] >= 3000, point["cpu_us_per_email"]
