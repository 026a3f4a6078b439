"""`poolbench compare` end to end: a consumer against itself, and against a slow copy.

A 40 ms sink keeps the consumer's CPU small, so a busy machine moves its throughput
less; 4 repeats per side at alpha 0.05 need every B on one side of every A, and
--min-effect 30% keeps a lone slow repeat from failing the unchanged compare.
"""

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
sink: {latency: 40ms}
consumer: {workers: 4, buffer: 20}
load: {rate: saturate, duration: 2s, warmup: 500ms, drain: 2s, cooldown: 0s}
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
            "4",
            "--alpha",
            "0.05",
            "--min-effect",
            "30%",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
        cwd=ROOT,
        timeout=380,
        check=False,
    )
    folder = Path(done.stdout.strip().splitlines()[-1])
    return done, json.loads((folder / "compare.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_consumer_against_itself_shows_no_change(tmp_path: Path) -> None:
    done, doc = _compare(tmp_path)
    assert done.returncode == 0, done.stderr
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "no detectable change"
    assert len(throughput["a"]) == len(throughput["b"]) == 4
    assert sorted(doc["order"]) == [f"{side}1.{i}" for side in "AB" for i in (1, 2, 3, 4)]
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert (folder / "a" / "results.json").is_file()
    assert (folder / "b" / "results.json").is_file()
    assert (folder / "compare-throughput.png").is_file()
    assert "## poolbench compare: tiny-compare" in (folder / "compare.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_consumer_at_half_speed_is_slower_and_fails(tmp_path: Path) -> None:
    # Each email takes about 41 ms (40 ms of sink): as much again per email halves it.
    done, doc = _compare(tmp_path, "--b-env", "POOLBENCH_DEBUG_DELAY=41ms")
    assert done.returncode == 1, done.stderr
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "worse"
    assert throughput["word"] == "slower"
    assert -0.65 < throughput["change"] < -0.35
    assert "throughput slower" in done.stderr
    assert doc["sides"][1]["env"] == {"POOLBENCH_DEBUG_DELAY": "41ms"}
