from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolbench.broker import list_partitions

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _first_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the broker printed nothing"
    return process.stdout.readline()


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    port_file = tmp_path / "bootstrap"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poolbench",
            "broker",
            "--topic",
            "orders:3",
            "--topic",
            "dead",
            "--port-file",
            str(port_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        yield process, port_file
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_broker_prints_bootstrap_first_and_stops_on_sigterm(
    broker_process: tuple[subprocess.Popen[str], Path],
) -> None:
    process, port_file = broker_process
    line = _first_line(process)
    assert re.fullmatch(r"127\.0\.0\.1:\d+\n", line)
    bootstrap = line.strip()
    assert port_file.read_text().strip() == bootstrap
    assert list_partitions(bootstrap, "orders", timeout=5) == [0, 1, 2]
    assert list_partitions(bootstrap, "dead", timeout=5) == [0]
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=20)  # the bound: TimeoutExpired fails the test
    assert process.returncode == 0
    assert "stopping" in err
    assert not port_file.exists()


def test_broker_stops_on_ctrl_c(broker_process: tuple[subprocess.Popen[str], Path]) -> None:
    process, _port_file = broker_process
    _first_line(process)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=20)
    assert process.returncode == 0


@pytest.mark.parametrize("flag", [["--topic", "x:zero"], ["--topic", "x:0"], ["--brokers", "0"]])
def test_bad_broker_flags_exit_2(flag: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "poolbench", "broker", *flag],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    if flag[0] == "--topic":  # ours (typer formats its own range checks)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1
        assert flag[0] in lines[0] and flag[1] in lines[0]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_broker_port_is_a_fixed_bootstrap_address() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "poolbench", "broker", "--topic", "orders:2", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert _first_line(process) == f"127.0.0.1:{port}\n"
        assert list_partitions(f"127.0.0.1:{port}", "orders", timeout=10) == [0, 1]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def test_broker_port_taken_is_one_line_and_exit_2_before_starting() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "poolbench", "broker", "--port", str(port)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"poolbench: error: --port: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1
