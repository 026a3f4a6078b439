"""Chaos for the harness: SIGKILL one part of a run mid-point, then nothing may be left.

In turn the embedded broker, the sink, the load generator, the consumer and the runner
itself are killed while the load runs. Afterwards: no process of the run is alive, no
private settings folder is left, the results folder says what happened, and the exit
code is one of the README's table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from poolbench.cli import exit_codes
from poolbench.orphans import KILLED_NOTE
from tests.cli.run import ROOT

SCENARIO = """\
name: chaos
topic: {partitions: 2}
sink: {latency: 5ms}
consumer: {workers: 4, buffer: 8}
load: {rate: 40/s, duration: 8s, warmup: 1s, drain: 3s, cooldown: 0s}
"""

# The command-line marks of each part, among the runner's descendants.
PARTS = {
    "broker": "poolbench broker",
    "sink": "poolbench.sink.backends",
    "loadgen": "poolbench produce",
    "consumer": "poolbench.cli.consume_run",
}
_TABLE = {exit_codes.OK, exit_codes.CHECK_FAILED, exit_codes.USAGE, exit_codes.INTERRUPTED}


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _part(processes: list[psutil.Process], mark: str) -> psutil.Process:
    for proc in processes:
        try:
            if mark in " ".join(proc.cmdline()):
                return proc
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no process {mark!r} among the run's: {processes}")


def _loading(runner: subprocess.Popen[str]) -> None:
    """Read the runner's JSON lines until the load delivers."""
    assert runner.stdout is not None
    deadline = time.monotonic() + 90
    for line in runner.stdout:
        event = json.loads(line)
        if event.get("phase") == "load" and event.get("delivered", 0) > 0:
            return
        assert time.monotonic() < deadline, "the load never started"
    raise AssertionError("the runner ended before the load started")


def _start_run(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """`poolbench run` of the chaos scenario: (runner, its temporary folder, results)."""
    scenario = tmp_path / "chaos.yaml"
    scenario.write_text(SCENARIO)
    temporary = tmp_path / "tmp"  # the run's own temporary folder: its private folders
    temporary.mkdir()
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temporary)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "poolbench", "run", str(scenario), "-o", str(out), "--json-lines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    return runner, temporary, out


def _end(runner: subprocess.Popen[str], run: list[psutil.Process]) -> None:
    """Whatever the test saw, nothing of the run is left running."""
    if runner.poll() is None:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait(10)
    for proc in run:
        if _alive(proc):
            proc.kill()
    for stream in (runner.stdout, runner.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.slow
@pytest.mark.parametrize("victim", [*PARTS, "runner"])
def test_a_part_killed_mid_point_leaves_nothing_behind(tmp_path: Path, victim: str) -> None:
    runner, temporary, out = _start_run(tmp_path)
    run: list[psutil.Process] = []
    try:
        _loading(runner)
        run = psutil.Process(runner.pid).children(recursive=True)
        assert {part for part, mark in PARTS.items() if _part(run, mark)} == set(PARTS)
        assert list(temporary.glob("poolbench-private-*"))  # the folder to be removed
        # The settings file (it may hold the SMTP password) is gone once the consumer is
        # ready: under load, none is on disk.
        assert list(temporary.glob("poolbench-private-*/*.settings.json")) == []
        target = psutil.Process(runner.pid) if victim == "runner" else _part(run, PARTS[victim])
        target.send_signal(signal.SIGKILL)
        assert runner.stdout is not None
        runner.stdout.read()
        code = runner.wait(120)
        stderr = runner.stderr.read() if runner.stderr is not None else ""
        # The watchdog is among the run's processes: it ends once it has cleaned up.
        _gone, left = psutil.wait_procs(run, timeout=10)
        assert [p for p in left if _alive(p)] == []
        assert list(temporary.glob("poolbench-private-*")) == []
        runs = list((out / "chaos").iterdir())
        assert len(runs) == 1
        if victim == "runner":
            assert code == -signal.SIGKILL
            note = (runs[0] / KILLED_NOTE).read_text()
            assert f"poolbench run (pid {runner.pid}) was killed" in note
            return
        assert code in _TABLE, stderr
        assert code != exit_codes.OK, stderr  # a part of the harness failed
        assert "Traceback" not in stderr
        doc = json.loads((runs[0] / "results.json").read_text())
        (point,) = doc["points"]
        said = " ".join([str(point.get("error") or ""), *point.get("warnings", [])])
        assert said.strip(), f"the results do not say the {victim} was killed: {point}"
    finally:
        _end(runner, run)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_hang_up_or_sigterm_writes_the_partial_run(tmp_path: Path, signum: int) -> None:
    runner, temporary, out = _start_run(tmp_path)
    run: list[psutil.Process] = []
    try:
        _loading(runner)
        run = psutil.Process(runner.pid).children(recursive=True)
        runner.send_signal(signum)
        assert runner.stdout is not None
        runner.stdout.read()
        assert runner.wait(120) == exit_codes.INTERRUPTED
        _gone, left = psutil.wait_procs(run, timeout=10)
        assert [p for p in left if _alive(p)] == []
        assert list(temporary.glob("poolbench-private-*")) == []
        (folder,) = (out / "chaos").iterdir()
        doc = json.loads((folder / "results.json").read_text())
        assert doc["partial"]
        assert len(doc["points"]) == 1
        assert not (folder / KILLED_NOTE).exists()
    finally:
        _end(runner, run)
