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
import xml.etree.ElementTree as ET
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
    # Within +-30%, or inconclusive when the machine is too busy to show that (and then
    # the compare says so); never a change.
    assert throughput["verdict"] in ("within", "inconclusive"), throughput["detail"]
    assert throughput["resolution"] is not None
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
    done, doc = _compare(
        tmp_path, "--b-env", "POOLBENCH_DEBUG_DELAY=41ms", "--junit", str(tmp_path / "compare.xml")
    )
    assert done.returncode == 1, done.stderr
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "worse"
    assert throughput["word"] == "slower"
    assert -0.65 < throughput["change"] < -0.35
    assert "throughput slower" in done.stderr
    junit = ET.parse(tmp_path / "compare.xml").getroot()
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert "throughput" in failed
    assert doc["sides"][1]["env"] == {"POOLBENCH_DEBUG_DELAY": "41ms"}


def _refused(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SCENARIO)
    return subprocess.run(
        [sys.executable, "-m", "poolbench", "compare", str(scenario), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("repeats", "alpha", "minimum"), [("3", "0.05", 4), ("2", "0.1", 3), ("4", "0.01", 5)]
)
def test_repeats_that_can_never_reach_alpha_are_refused_before_any_run(
    tmp_path: Path, repeats: str, alpha: str, minimum: int
) -> None:
    out = tmp_path / "out"
    done = _refused(
        tmp_path, "--a", str(ROOT), "--b", str(ROOT), "--repeats", repeats, "--alpha", alpha,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"poolbench: error: --repeats {repeats}: needs at least {minimum} repeats per side: "
        f"{repeats} against {repeats} can never reach --alpha {alpha}"
    ]
    assert not out.exists()


def test_a_compare_that_fails_before_running_leaves_no_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = _refused(
        tmp_path, "--a", "no-such-ref-anywhere", "--b", str(ROOT), "--repo", str(tmp_path),
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("poolbench: error: ")
    assert out.is_dir() and list(out.iterdir()) == []  # `out` was there; nothing under it


def test_fail_on_takes_result_names_and_the_older_ones(tmp_path: Path) -> None:
    bad = _refused(tmp_path, "--a", str(ROOT), "--b", str(ROOT), "--fail-on", "thruput")
    assert bad.returncode == 2
    assert "--fail-on: unknown metric(s) thruput; known: throughput, p99_ms" in bad.stderr
    # Known names pass the check and the compare goes on to the next (a bad --junit).
    for names in ("p99_ms,memory", "cpu_us_per_email,cpu_per_email"):
        done = _refused(
            tmp_path, "--a", str(ROOT), "--b", str(ROOT), "--fail-on", names,
            "--junit", str(tmp_path),
        )  # fmt: skip
        assert done.returncode == 2
        assert "--junit:" in done.stderr and "is a folder" in done.stderr, done.stderr


def test_the_terminal_shows_every_verdicts_reason(capsys: pytest.CaptureFixture[str]) -> None:
    from poolbench.cli.compare import _print_verdicts
    from poolbench.compare.verdict import Outcome, judge_point
    from tests.compare.test_verdict import _point

    # Stopped after 3 runs a side, B's memory higher in all three pairs: never a silent pass.
    a = [_point(i, 400 + i, memory=50 + i) for i in range(3)]
    b = [_point(i, 400 + i, memory=60 + i) for i in range(3)]
    point = judge_point("consumer.workers=10", a, b, alpha=0.05, min_effect=0.1)
    _print_verdicts(
        Outcome(points=(point,), alpha=0.05, min_effect=0.1, fail_on=(), warnings=("busy",))
    )
    err = capsys.readouterr().err.splitlines()
    (memory,) = [line for line in err if "peak memory" in line]
    assert memory.startswith("consumer.workers=10: peak memory: B +19.6%: inconclusive (")
    assert "3 against 3 repeats can never reach alpha 0.05" in memory
    assert err[-1] == "note: busy"
