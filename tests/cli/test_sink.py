"""`poolbench sink` as a user runs it: a process, its first stdout line, signals, exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poolbench", "sink", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


@pytest.fixture
def sink_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Collects started sink processes; kills any still running at teardown."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _address(process: subprocess.Popen[str]) -> tuple[str, int]:
    assert process.stdout is not None
    first = process.stdout.readline().rstrip("\n")
    host, _, port = first.rpartition(":")
    assert host and port.isdigit(), first
    return host, int(port)


def _send(host: str, port: int, ids: list[str]) -> None:
    with smtplib.SMTP(host, port, local_hostname="t") as smtp:
        for message_id in ids:
            smtp.sendmail(
                "a@example.com",
                ["b@example.com"],
                f"X-Poolbench-Id: {message_id}\r\nSubject: x\r\n\r\nhi\r\n",
            )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_address_first_serves_and_stops_cleanly(
    sink_process: list[subprocess.Popen[str]], tmp_path: Path, signum: int
) -> None:
    record = tmp_path / "ledger.jsonl"
    process = _start("--latency", "1ms", "--record", str(record))
    sink_process.append(process)
    host, port = _address(process)
    _send(host, port, ["a", "b", "a"])
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: ")
    fields = dict(item.split("=") for item in summary.removeprefix("summary: ").split())
    assert fields["received"] == "3"
    assert fields["duplicates"] == "1"
    lines = record.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "a"]


@pytest.mark.slow
def test_two_processes_print_one_address(
    sink_process: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    record = tmp_path / "ledger.jsonl"
    process = _start("--processes", "2", "--record", str(record))
    sink_process.append(process)
    host, port = _address(process)
    for index in range(6):  # separate connections, spread over both processes
        _send(host, port, [f"m{index}"])
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "received=6" in out
    assert "processes=2" in out
    assert len(record.read_text().splitlines()) == 6
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.jsonl"]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--latency", "-5ms"], "--latency"),
        (["--latency", "lognormal:median=2s,p99=1s"], "--latency"),
        (["--transient", "1.5"], "--transient"),
        (["--drop", "0.7", "--permanent", "0.7"], "must not exceed 1"),
        (["--tls", "ssl"], "--tls"),
        (["--outage", "5s"], "--outage"),
        (["--rate-limit", "fast"], "--rate-limit"),
        (["--max-connections", "0"], "--max-connections"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], flag: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "poolbench", "sink", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("poolbench: error: ") and flag in lines[0]


def test_help_documents_the_latency_grammar() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "poolbench", "sink", "--help"],
        capture_output=True,
        text=True,
        env={**ENV, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )
    assert run.returncode == 0
    for needle in ("uniform:50ms..150ms", "lognormal:median=80ms,p99=400ms", "--rate-limit"):
        assert needle in run.stdout


@pytest.mark.slow
def test_a_dead_sink_process_ends_the_sink_with_an_error(
    sink_process: list[subprocess.Popen[str]],
) -> None:
    process = _start("--processes", "2", "--status-every", "0.2")
    sink_process.append(process)
    _address(process)
    children = psutil.Process(process.pid).children()
    assert len(children) == 2
    children[1].kill()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert re.match(r"poolbench: error: SMTP sink process [01] exited with code -9", last), err
    assert "summary:" not in out
