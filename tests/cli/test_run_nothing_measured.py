"""`poolbench run` where a point measured nothing: an error, never `0/s 0ms`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.run import poolbench

# load.count is used up in 0.5 s, long before the 2 s warm-up ends: the window is empty.
USED_UP_IN_WARMUP = """\
name: used-up
topic: {name: email-queue, partitions: 2}
sink: {latency: 5ms}
consumer: {workers: 5, buffer: 10}
load: {rate: 100/s, count: 50, duration: 4s, warmup: 2s, drain: 1s, cooldown: 0s}
"""


@pytest.mark.slow
def test_a_point_that_measured_nothing_fails_the_run_and_reads_n_a(tmp_path: Path) -> None:
    scenario = tmp_path / "used-up.yaml"
    scenario.write_text(USED_UP_IN_WARMUP)
    done = poolbench("run", scenario, "--out", tmp_path / "out", "--json-lines")
    assert done.returncode == 1, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    finished = next(e for e in events if e["event"] == "point_done")
    assert finished["throughput_per_s"] is None and finished["p99_ms"] is None
    assert finished["error"]
    written = events[-1]
    assert written["event"] == "written" and written["status"] == "failed"
    directory = Path(written["directory"])
    stored = json.loads((directory / "results.json").read_text())
    assert stored["failed_points"] == 1
    (point,) = stored["points"]
    assert point["throughput_per_s"] is None and point["latency_ms"] is None
    assert "failed" in done.stderr
    shown = poolbench("show", directory)
    assert "used-up (1 point(s)) FAILED" in shown.stdout
    assert "0/s" not in shown.stdout and "0ms" not in shown.stdout
    assert "FAILED run: 1 of 1 point(s) measured nothing usable" in shown.stdout
    assert "**FAILED run" in (directory / "report.md").read_text()
    assert 'data-status="FAILED"' in (directory / "report.html").read_text()
