"""The sink's capacity beside the plain aiosmtpd it wraps, in the same run.

- Zero latency: emails/s accepted, and the server's CPU, for plain aiosmtpd (1 process)
  and the sink with 1 and 2 processes.
- 100 ms latency: with 10, 100 and 1000 concurrent senders, the share of the ideal
  (senders / latency) reached, plain aiosmtpd beside the sink.

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

from poolbench.sink import SinkConfig, SinkServer, parse_latency
from poolbench.sink.ledger import Receipt
from poolbench.sink.server import _from_row, _row

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


@pytest.mark.parametrize("server", ["plain-aiosmtpd", "sink-1-process", "sink-2-processes"])
def test_bench_zero_latency_throughput(benchmark: Any, server: str) -> None:
    def run() -> tuple[float, float, float]:
        if server == "plain-aiosmtpd":
            with _plain(0.0) as (port, process):
                before = _cpu(process)
                started = time.monotonic()
                rate, client_cpu = _load(port, senders=8, processes=2)
                elapsed = time.monotonic() - started
                return rate, 100 * (_cpu(process) - before) / elapsed, client_cpu
        processes = 1 if server == "sink-1-process" else 2
        with SinkServer(SinkConfig(processes=processes, isolated=True)) as sink:
            sink.counters()
            rate, client_cpu = _load(sink.port, senders=8, processes=2)
            counters = sink.counters()  # CPU since the previous call: the whole load
            return rate, counters.cpu_percent, client_cpu

    rate, server_cpu, client_cpu = benchmark.pedantic(run, rounds=1, iterations=1)
    _report(
        benchmark,
        server,
        emails_per_s=rate,
        server_cpu_percent=server_cpu,
        client_cpu_seconds=client_cpu,
    )
    assert rate > 0


@pytest.mark.parametrize("senders", [10, 100, 1000])
@pytest.mark.parametrize("server", ["plain-aiosmtpd", "sink-1-process", "sink-2-processes"])
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
        processes = 1 if server == "sink-1-process" else 2
        config = SinkConfig(latency=parse_latency("100ms"), processes=processes, isolated=True)
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
        _row(
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
        lambda: [_from_row(row) for row in pickle.loads(blob)], rounds=3, iterations=1
    )
    assert len(result) == 200_000


def test_bench_receipts_transfer_200k_baseline_plain_pickle(benchmark: Any) -> None:
    """Baseline: only unpickling the rows."""
    blob = pickle.dumps(_rows(200_000), protocol=pickle.HIGHEST_PROTOCOL)
    result = benchmark.pedantic(lambda: pickle.loads(blob), rounds=3, iterations=1)
    assert len(result) == 200_000
