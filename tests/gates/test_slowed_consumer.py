"""End to end: a consumer slowed on purpose fails the baseline gate; an unchanged one passes.

An A/B on this machine, in one test: the same small scenario is run for real (embedded
broker, sink, consumer process, saturating load) without and then with the consumer's
hidden `POOLBENCH_DEBUG_DELAY` (set in the scenario's `consumer.env`: the consumer under
test never sees the runner's environment); the first run becomes the baseline. The delay (50 ms per
email on top of the sink's 20 ms and the stack's own 10-30 ms) at least halves the
throughput, so a 30% threshold catches it with room for noise, and the baseline compared
with itself must pass.
"""

import os
import subprocess
import sys
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
LIMITS = ("--max-throughput-drop", "30%", "--max-p99-rise", "1000%", "--max-memory-rise", "100%")


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
    done = _poolbench("run", scenario, "--quiet", "--out", out, env={})
    assert done.returncode == exit_codes.OK, done.stdout + done.stderr
    [results] = (out / "slowed").glob("*/results.json")
    return results.parent


@pytest.mark.slow
def test_a_slowed_consumer_fails_the_gate_and_an_unchanged_one_passes(tmp_path: Path) -> None:
    runs = {}
    for delay in ("0ms", "50ms"):
        scenario = tmp_path / f"slowed-{delay}.yaml"
        scenario.write_text(SCENARIO.format(delay=delay))
        runs[delay] = _run(scenario, tmp_path / delay)
    normal, slowed = runs["0ms"], runs["50ms"]
    baseline = tmp_path / "baseline.json"
    saved = _poolbench("baseline", "save", normal, baseline, env={})
    assert saved.returncode == exit_codes.OK, saved.stderr

    markdown = tmp_path / "gate.md"
    # The scenarios differ in the delay alone: that difference is what is compared.
    gate = _poolbench(
        "gate", slowed, "--baseline", baseline, *LIMITS, "--allow-scenario-change",
        "--markdown", markdown, env={},
    )  # fmt: skip
    assert gate.returncode == exit_codes.CHECK_FAILED, gate.stdout + gate.stderr
    regressions = [line for line in markdown.read_text().splitlines() if "REGRESSION" in line]
    assert any("| throughput |" in line for line in regressions), markdown.read_text()

    same = _poolbench("gate", normal, "--baseline", baseline, *LIMITS, env={})
    assert same.returncode == exit_codes.OK, same.stdout + same.stderr
