"""End to end: a consumer slowed on purpose fails the baseline gate, as in `.ci/run`.

`scenarios/quick.yaml` is run for real (embedded broker, sink, consumer process, load)
with the consumer's hidden `POOLBENCH_DEBUG_DELAY` adding a sleep per email, then gated
against the committed `results/baselines/quick.json` with `.ci/run`'s wide thresholds.
The delay roughly halves throughput (each email already takes about 40-50 ms on a shared
2-core machine), which those thresholds must catch.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "results" / "baselines" / "quick.json"
# The same limits as .ci/run: wide for a noisy machine, but a halving still fails.
CI_LIMITS = ("--max-throughput-drop", "40%", "--max-p99-rise", "100%", "--max-memory-rise", "50%")


def _poolbench(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
    )


@pytest.mark.slow
def test_a_slowed_consumer_fails_the_gate(tmp_path: Path) -> None:
    run = _poolbench(
        "run", ROOT / "scenarios" / "quick.yaml", "--quiet", "--out", tmp_path,
        env={"POOLBENCH_DEBUG_DELAY": "50ms"},
    )  # fmt: skip
    # The scenario's own absolute gates may fail too (exit 1); the results are written.
    assert run.returncode in (0, 1), run.stderr
    assert list((tmp_path / "quick").glob("*/results.json")), run.stdout + run.stderr
    markdown = tmp_path / "gate.md"
    gate = _poolbench(
        "gate", tmp_path / "quick", "--baseline", BASELINE, "--allow-env-change",
        *CI_LIMITS, "--markdown", markdown, env={},
    )  # fmt: skip
    assert gate.returncode == 1, gate.stdout + gate.stderr
    regressions = [line for line in markdown.read_text().splitlines() if "REGRESSION" in line]
    assert any("| throughput |" in line for line in regressions), markdown.read_text()
