"""The sink's two engines side by side, with Postfix's C smtp-sink as the bound.

- Zero latency: emails/s and µs of the sink process's CPU per email, fast and aiosmtpd
  engines and C smtp-sink, with kept connections and a new connection per email, driven
  by Postfix's C smtp-source (or our own client when Postfix is absent).
- 100 ms latency: with 10, 100 and 1000 concurrent senders, the share of the ideal
  (senders / latency) reached, plain aiosmtpd beside the sink's two engines.

Load comes from separate processes (`benchmarks.sink_load send`), so the senders have
their own CPU; on a 2-core machine they still compete with the server, so read the
figures as "at least". Results go to `benchmark.extra_info` and are printed (`-s`).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchmarks import sink_drivers as drivers
from poolbench.sink import SinkConfig, SinkServer, parse_latency
from poolbench.sink.config import Engine
from poolbench.sink.receipt import Receipt, receipt_from_row, receipt_row

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
DURATION = float(os.environ.get("POOLBENCH_BENCH_SECONDS", "4"))
WARMUP = 1.0


def _load(port: int, *, senders: int, processes: int) -> tuple[float, float]:
    """Emails/s accepted over the window, from `processes` sender processes; and their CPU."""
    per = [senders // processes + (1 if i < senders % processes else 0) for i in range(processes)]
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
                str(n),
                "--duration",
                str(DURATION),
                "--warmup",
                str(WARMUP),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for n in per
        if n > 0
    ]
    results = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    emails = sum(r["emails"] for r in results)
    return emails / DURATION, sum(r["cpu_seconds"] for r in results)


@contextmanager
def _plain(latency: float) -> Iterator[tuple[int, psutil.Process]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sink_load", "plain", "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield port, psutil.Process(server.pid)
    finally:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.close()
        server.wait(30)
        server.stdout.close()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _report(benchmark: Any, name: str, **figures: float) -> None:
    benchmark.extra_info.update(figures)
    shown = " ".join(f"{k}={v:.3g}" for k, v in figures.items())
    print(f"\n[sink bench] {name}: {shown}")


# Emails per run, sized so each run takes a few seconds on a 2-core machine;
# POOLBENCH_BENCH_SCALE multiplies them.
_SCALE = float(os.environ.get("POOLBENCH_BENCH_SCALE", "1"))
_EMAILS = {
    ("fast", True): 40_000,
    ("fast", False): 12_000,
    ("aiosmtpd", True): 8_000,
    ("aiosmtpd", False): 3_000,
    ("postfix-smtp-sink", True): 60_000,
    ("postfix-smtp-sink", False): 20_000,
}


@pytest.mark.parametrize("connections", ["kept", "new"])
@pytest.mark.parametrize("server", ["fast", "aiosmtpd", "postfix-smtp-sink"])
def test_bench_engines_cpu_per_email(benchmark: Any, server: str, connections: str) -> None:
    """emails/s and µs of the sink's CPU per email, one sink process, 20 sessions of
    600-byte emails; Postfix's C smtp-sink is the bound, measured the same way."""
    kept = connections == "kept"
    emails = max(100, int(_EMAILS[server, kept] * _SCALE))
    if server == "postfix-smtp-sink" and drivers.postfix_binary("smtp-sink") is None:
        pytest.skip(
            f"Postfix's smtp-sink is not under {drivers.POSTFIX_ROOT} "
            "(POOLBENCH_POSTFIX_ROOT; see benchmarks/README.md)"
        )
    if drivers.postfix_binary("smtp-source") is None:
        print(
            f"\n[sink bench] no smtp-source under {drivers.POSTFIX_ROOT}: "
            "driving with poolbench's own client, whose ceiling is printed"
        )

    def run() -> tuple[drivers.Drive, float]:
        if server == "postfix-smtp-sink":
            with drivers.postfix_sink() as (port, pid):
                before = drivers.cpu_seconds([pid])
                load = drivers.drive(port, emails=emails, kept=kept)
                return load, drivers.cpu_seconds([pid]) - before
        engine: Engine = "fast" if server == "fast" else "aiosmtpd"
        config = SinkConfig(engine=engine, isolated=True, keep_receipts=False)
        with SinkServer(config) as sink:
            before = drivers.cpu_seconds(sink.pids())
            load = drivers.drive(sink.port, emails=emails, kept=kept)
            # Received, not sent: the sink's own count is what its CPU paid for.
            received = sink.counters().received
            cpu = drivers.cpu_seconds(sink.pids()) - before
            return drivers.Drive(
                driver=load.driver,
                emails=received,
                seconds=load.seconds,
                client_cpu_seconds=load.client_cpu_seconds,
            ), cpu

    load, cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    figures = {
        "emails_per_s": load.emails / load.seconds,
        "cpu_us_per_email": 1e6 * cpu / max(1, load.emails),
        "emails": float(load.emails),
        "client_ceiling_per_s": load.client_ceiling_per_s,
        "load_average_1m": os.getloadavg()[0],
    }
    _report(benchmark, f"{server} {connections} connections via {load.driver}", **figures)
    assert load.emails > 0


@pytest.mark.parametrize("senders", [10, 100, 1000])
@pytest.mark.parametrize("server", ["plain-aiosmtpd", "sink-aiosmtpd", "sink-fast"])
def test_bench_share_of_ideal_at_100ms(benchmark: Any, server: str, senders: int) -> None:
    latency = 0.1
    ideal = senders / latency
    load_processes = 1 if senders < 100 else 2

    def run() -> tuple[float, float]:
        if server == "plain-aiosmtpd":
            with _plain(latency) as (port, process):
                before, started = _cpu(process), time.monotonic()
                rate, _ = _load(port, senders=senders, processes=load_processes)
                return rate, 100 * (_cpu(process) - before) / (time.monotonic() - started)
        engine: Engine = "fast" if server == "sink-fast" else "aiosmtpd"
        config = SinkConfig(latency=parse_latency("100ms"), engine=engine, isolated=True)
        with SinkServer(config) as sink:
            sink.counters()
            rate, _ = _load(sink.port, senders=senders, processes=load_processes)
            return rate, sink.counters().cpu_percent

    rate, server_cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    _report(
        benchmark,
        f"{server} senders={senders}",
        emails_per_s=rate,
        share_of_ideal=rate / ideal,
        server_cpu_percent=server_cpu,
    )
    assert rate > 0


def _rows(n: int) -> list[Any]:
    return [
        receipt_row(
            Receipt(
                id=f"{i:032x}",
                intended_ns=i,
                started_ns=i,
                received_ns=i,
                mail_from="a@example.com",
                rcpt_tos=("b@example.com",),
                size=1200,
            )
        )
        for i in range(n)
    ]


def test_bench_receipts_transfer_200k(benchmark: Any) -> None:
    """What `receipts()` pays per 200k receipts from a child: unpickle + build Receipts."""
    blob = pickle.dumps(_rows(200_000), protocol=pickle.HIGHEST_PROTOCOL)
    result = benchmark.pedantic(
        lambda: [receipt_from_row(row) for row in pickle.loads(blob)], rounds=3, iterations=1
    )
    assert len(result) == 200_000


def test_bench_receipts_transfer_200k_baseline_plain_pickle(benchmark: Any) -> None:
    """Baseline: only unpickling the rows."""
    blob = pickle.dumps(_rows(200_000), protocol=pickle.HIGHEST_PROTOCOL)
    result = benchmark.pedantic(lambda: pickle.loads(blob), rounds=3, iterations=1)
    assert len(result) == 200_000
