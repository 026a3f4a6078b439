"""`poolbench compare` end to end: a consumer against itself, and against a slow copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.run import ROOT

SCENARIO = """\
name: tiny-compare
broker: embedded
topic: {name: email-queue, partitions: 2}
sink: {latency: 10ms}
consumer: {workers: 4, buffer: 20}
load: {rate: saturate, duration: 1500ms, warmup: 500ms, drain: 2s, cooldown: 0s}
"""


def _compare(
    tmp_path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "poolbench",
            "compare",
            str(scenario),
            "--a",
            str(ROOT),
            "--b",
            str(ROOT),
            "--repeats",
            "3",
            "--alpha",
            "0.1",
            "--min-effect",
            "25%",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    folder = Path(done.stdout.strip().splitlines()[-1])
    return done, json.loads((folder / "compare.json").read_text())


@pytest.mark.slow
def test_a_consumer_against_itself_shows_no_change(tmp_path: Path) -> None:
    done, doc = _compare(tmp_path)
    assert done.returncode == 0, done.stderr
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "no detectable change"
    assert len(throughput["a"]) == len(throughput["b"]) == 3
    assert sorted(doc["order"]) == ["A1.1", "A1.2", "A1.3", "B1.1", "B1.2", "B1.3"]
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert (folder / "a" / "results.json").is_file()
    assert (folder / "b" / "results.json").is_file()
    assert (folder / "compare-throughput.png").is_file()
    assert "## poolbench compare: tiny-compare" in (folder / "compare.md").read_text()


@pytest.mark.slow
def test_a_consumer_at_half_speed_is_slower_and_fails(tmp_path: Path) -> None:
    # Each email takes about 11 ms (10 ms of sink): as much again per email halves it.
    done, doc = _compare(tmp_path, "--b-env", "POOLBENCH_DEBUG_DELAY=11ms")
    assert done.returncode == 1, done.stderr
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "worse"
    assert throughput["word"] == "slower"
    assert -0.65 < throughput["change"] < -0.35
    assert "throughput slower" in done.stderr
    assert doc["sides"][1]["env"] == {"POOLBENCH_DEBUG_DELAY": "11ms"}
