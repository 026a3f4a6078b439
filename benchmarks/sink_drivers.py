"""Load and bounds for the sink benchmarks: Postfix's C `smtp-source` and `smtp-sink`.

Postfix's binaries are found under `POOLBENCH_POSTFIX_ROOT` (default /opt/postfix, an
unpacked Debian package: benchmarks/README.md) and run with its private libraries on
`LD_LIBRARY_PATH`. Without them, `drive` falls back to our own multi-process client
(`benchmarks.sink_load send`), whose CPU per email is returned so that its ceiling can
be reported beside what it measured.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
POSTFIX_ROOT = Path(os.environ.get("POOLBENCH_POSTFIX_ROOT", "/opt/postfix"))
SESSIONS = 20
MESSAGE_BYTES = 600


def postfix_binary(name: str) -> Path | None:
    path = POSTFIX_ROOT / "usr" / "sbin" / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def postfix_env() -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_ROOT / "usr" / "lib" / "postfix")}


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class Drive:
    """One load run: what was sent, how long it took, and the driver's own CPU."""

    driver: str
    emails: int
    seconds: float
    client_cpu_seconds: float

    @property
    def client_ceiling_per_s(self) -> float:
        """Emails/s the driver could reach on the machine's cores if the sink were free."""
        cpu = self.client_cpu_seconds / max(1, self.emails)
        return (os.cpu_count() or 1) / cpu if cpu > 0 else float("inf")


def drive(port: int, *, emails: int, kept: bool) -> Drive:
    """Send `emails` emails over `SESSIONS` sessions, kept or new per email."""
    source = postfix_binary("smtp-source")
    if source is not None:
        args = [str(source), "-s", str(SESSIONS), "-m", str(emails), "-l", str(MESSAGE_BYTES)]
        if kept:
            args.append("-d")
        started = time.perf_counter()
        process = subprocess.Popen(
            [*args, f"127.0.0.1:{port}"],
            env=postfix_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        info = psutil.Process(process.pid)
        cpu = 0.0
        while process.poll() is None:
            try:
                times = info.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        return Drive(driver="smtp-source", emails=emails, seconds=seconds, client_cpu_seconds=cpu)
    return _drive_ours(port, emails=emails, kept=kept)


def _drive_ours(port: int, *, emails: int, kept: bool) -> Drive:
    """Our client: 2 processes x 10 sessions for a fixed window (it counts, not sends N)."""
    duration = 3.0
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.sink_load",
                "send",
                "--port",
                str(port),
                "--senders",
                str(SESSIONS // 2),
                "--duration",
                str(duration),
                "--warmup",
                "0.5",
                *([] if kept else ["--new-connections"]),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(2)
    ]
    results = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    return Drive(
        driver="poolbench client (2 processes)",
        emails=sum(r["emails"] for r in results),
        seconds=duration,
        client_cpu_seconds=sum(r["cpu_seconds"] for r in results),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postfix_sink() -> Iterator[tuple[int, int]]:
    """Postfix's C `smtp-sink` on a free port: yields (port, pid)."""
    binary = postfix_binary("smtp-sink")
    if binary is None:
        raise FileNotFoundError(f"no smtp-sink under {POSTFIX_ROOT}")
    port = _free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [str(binary), *user, "-c", f"127.0.0.1:{port}", "1024"],
        env=postfix_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(10)
