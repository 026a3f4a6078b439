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
    assert finished["gates_failed"] == ["throughput > 1000000"]
    directory = Path(events[-1]["directory"])
    assert directory.parent == tmp_path / "out" / "tiny"
    for name in ("results.json", "results.csv", "report.md"):
        assert (directory / name).is_file()
    stored = json.loads((directory / "results.json").read_text())
    assert len(stored["points"]) == 1
    # 40/s for as long as the load ran (warm-up until steady, then the 3 s window).
    point = stored["points"][0]
    assert abs(point["produced"] - 40 * point["load_s"]) <= 2
    assert "gate 'throughput > 1000000' FAILED" in done.stderr
    assert "measured:" in done.stderr
    assert "lost == 0' FAILED" not in done.stderr
    # The verdicts are stored on the point with the values they read, and every place
    # that reads the run says which failed.
    point = stored["points"][0]
    verdicts = {g["gate"]: g for g in point["gates"]}
    assert verdicts["lost == 0"]["passed"] is True
    assert verdicts["lost == 0"]["values"] == {"lost": 0.0}
    failed = verdicts["throughput > 1000000"]
    assert failed["passed"] is False
    assert failed["values"]["throughput"] == pytest.approx(point["throughput_per_s"])
    assert failed["measured"].endswith("> 1e+06")
    report = (directory / "report.md").read_text()
    assert "| `throughput > 1000000` | **FAILED** |" in report
    assert "| `lost == 0` | passed |" in report
    shown = poolbench("show", str(directory), cwd=tmp_path)
    assert "GATE FAILED" in shown.stdout
    # The exact CPU per email of each part, ours and the harness's.
    assert point["cpu_us_per_email"] > 0
    assert point["sink_cpu_us_per_email"] > 0
    assert point["loadgen_cpu_us_per_email"] > 0
    assert finished["cpu_us_per_email"] == pytest.approx(point["cpu_us_per_email"], abs=0.1)


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


def test_an_unwritable_out_is_refused_before_any_load(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = poolbench("run", str(scenario), "--quiet", "--out", str(blocker), cwd=tmp_path)
    assert done.returncode == exit_codes.USAGE, done.stderr
    assert done.stderr == f"poolbench: error: --out: {blocker} is a file, not a folder\n"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_consumer_that_crashes_mid_point_fails_the_run_with_its_last_lines(
    tmp_path: Path,
) -> None:
    # It survives the settle time, then dies as a client without an LZ4 codec would.
    crasher = tmp_path / "crasher.py"
    crasher.write_text(
        "import sys, time\n"
        "print('consumer starting', flush=True)\n"
        "time.sleep(6)\n"
        "print('KafkaJSNotImplemented: LZ4 compression not implemented', file=sys.stderr)\n"
        "sys.exit(5)\n"
    )
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(
        "name: crash\ntopic: {partitions: 1}\n"
        f'consumer: {{command: "{sys.executable} {crasher}"}}\n'
        "load: {rate: 20/s, duration: 4s, warmup: 1s, drain: 2s, cooldown: 0s}\n"
    )
    out = tmp_path / "out"
    done = poolbench("run", str(scenario), "--quiet", "--out", str(out), cwd=tmp_path)
    assert done.returncode == exit_codes.CHECK_FAILED, done.stdout + done.stderr
    assert "consumer-0 exited with code 5" in done.stderr
    assert "LZ4 compression not implemented" in done.stderr
    # Never committed: still in Kafka, not lost.
    assert "drain incomplete" in done.stderr and "lost " not in done.stderr
    [results] = out.glob("crash/*/results.json")
    stored = json.loads(results.read_text())
    assert "LZ4 compression not implemented" in stored["points"][0]["error"]
    # The consumer's own output is kept with the run.
    [log] = results.parent.glob("points/point-1/consumer-0.log")
    assert "LZ4 compression not implemented" in log.read_text()


@pytest.mark.slow
def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    password = "pw-7c1e9f-never-shown"
    scenario = tmp_path / "auth.yaml"
    scenario.write_text(
        "name: auth\ntopic: {partitions: 1}\n"
        f"sink: {{latency: 5ms, auth: {{user: mailer, password: {password}}}}}\n"
        "consumer: {workers: 2, buffer: 4, env: {API_TOKEN: tok-4242-hidden}}\n"
        "load: {rate: 30/s, duration: 3s, warmup: 1s, drain: 5s, cooldown: 0s}\n"
    )
    out = tmp_path / "out"
    done = poolbench("run", str(scenario), "--out", str(out), cwd=tmp_path)
    assert done.returncode == exit_codes.OK, done.stdout + done.stderr
    [results] = out.glob("auth/*/results.json")
    stored = json.loads(results.read_text())
    point = stored["points"][0]
    assert point["delivered"] == point["produced"] > 0  # AUTH worked
    assert abs(point["produced"] - 30 * point["load_s"]) <= 2
    assert point["consumer_settings"]["smtp_password"] == "***"
    files = [p for p in results.parent.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".log") for p in files)
    for secret in (password, "tok-4242-hidden"):
        assert secret not in done.stdout + done.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
