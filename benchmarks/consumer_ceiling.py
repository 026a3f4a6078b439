"""The consumer's own ceiling: `poolbench consume` draining a backlog into the fastest sink.

Usage (from the repository root; take the shared benchmark lock on a shared machine):

    PYTHONPATH=$PWD python benchmarks/consumer_ceiling.py [--events 15000] [--workers 50]
        [--no-reuse] [--sink postfix|poolbench] [--py-spy FILE]

A backlog of events is produced into an embedded broker (in this process), then
`python -m poolbench consume --max-events N` drains it as its own process into Postfix's
C `smtp-sink` (when /opt/postfix holds it; else poolbench's sink in its own process).
This script scrapes the consumer's `/metrics` every 100 ms: the rate and the CPU per email
are taken between the first scrape that saw an email sent and the one that saw all of
them, so start-up and shutdown are not counted. Peak RSS is the process's VmHWM (the
high-water mark of its memory after the exec into the lean consume process). `--py-spy`
records the run with py-spy (raw collapsed stacks) for profiling.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.loadgen import LoadSpec, run_load
from poolbench.sink import SinkConfig, SinkServer

ROOT = Path(__file__).resolve().parents[1]
POSTFIX = Path("/opt/postfix")
SMTP_SINK = POSTFIX / "usr/sbin/smtp-sink"
SCRAPE_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class Ceiling:
    sink: str
    workers: int
    reuse: bool
    events: int
    emails_per_s: float
    cpu_us_per_email: float
    system_us_per_email: float  # the kernel's part of it: socket calls, mostly
    cpu_share: float  # of one core, over the measured window
    peak_rss_mb: float
    load_average: float
    # µs of CPU per email by thread (rdk:* are librdkafka's; "python" the other Python
    # threads: Kafka poll, DLQ, metrics), over the same window.
    threads_us_per_email: dict[str, float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postfix_available() -> bool:
    return SMTP_SINK.exists()


@contextmanager
def postfix_sink() -> Iterator[tuple[str, int]]:
    """Postfix's C smtp-sink on a free port (it offers PIPELINING)."""
    port = free_port()
    env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX / "usr/lib/postfix")}
    # -m: smtp-sink serves 256 connections at once by default; a pool may hold more.
    command = [str(SMTP_SINK), "-u", "nobody", "-m", "4096", f"127.0.0.1:{port}", "1024"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("smtp-sink did not start") from None
                time.sleep(0.02)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def fastest_sink(kind: str) -> Iterator[tuple[str, int]]:
    if kind == "postfix":
        with postfix_sink() as address:
            yield address
    else:
        with SinkServer(SinkConfig(isolated=True)) as sink:
            yield sink.host, sink.port


def _sent(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("poolbench_emails_sent_total "):
                return int(float(line.split()[1]))
    return 0


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (threads of one name summed)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            # Python does not name its threads for the OS: the loop's is the main one.
            name = (
                "main (event loop)"
                if task.name == str(pid)
                else (task / "comm").read_text().strip()
            )
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of stat; 12 and 13 after the name.
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(
    broker: EmbeddedBroker,
    *,
    sink_kind: str,
    events: int,
    workers: int,
    reuse: bool,
    py_spy: Path | None = None,
) -> Ceiling:
    topic = f"ceiling-{uuid.uuid4().hex[:8]}"
    broker.create_topic(TopicSpec(topic, 8))
    broker.create_topic(TopicSpec(f"{topic}-dlq", 1))
    run_load(
        LoadSpec(topic=topic, count=events, rate="max"), bootstrap_servers=broker.bootstrap_servers
    )
    metrics_port = free_port()
    # The log goes to a file, not a pipe: nobody reads a pipe during the run, and a full
    # one blocks the consumer.
    with fastest_sink(sink_kind) as (host, port), tempfile.TemporaryFile("w+") as log:
        args = [
            sys.executable,
            "-m",
            "poolbench",
            "--log-level",
            "WARNING",
            "consume",
            "--kafka-brokers",
            broker.bootstrap_servers,
            "--kafka-topic",
            topic,
            "--kafka-group",
            f"{topic}-group",
            "--dlq-topic",
            f"{topic}-dlq",
            "--smtp-host",
            host,
            "--smtp-port",
            str(port),
            "--workers",
            str(workers),
            "--buffer",
            "100",
            "--connection-reuse",
            "on" if reuse else "off",
            "--metrics-port",
            str(metrics_port),
            "--max-events",
            str(events),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(args, env=env, stderr=log, text=True)
        spy: subprocess.Popen[bytes] | None = None
        watched = psutil.Process(process.pid)
        first: tuple[float, float, int, float] | None = None
        last: tuple[float, float, int, float] | None = None
        threads_first: dict[str, float] = {}
        threads_last: dict[str, float] = {}
        peak_kb = 0
        try:
            while process.poll() is None:
                time.sleep(SCRAPE_S)
                try:
                    sent = _sent(metrics_port)
                    times = watched.cpu_times()
                except (OSError, psutil.Error):
                    continue
                peak_kb = max(peak_kb, _hwm_kb(process.pid))
                sample = (time.monotonic(), times.user + times.system, sent, times.system)
                threads = _thread_cpu(process.pid)
                if sent > 0 and first is None:
                    first, threads_first = sample, threads
                    if py_spy is not None and shutil.which("py-spy"):
                        spy = subprocess.Popen(
                            [
                                "py-spy",
                                "record",
                                "--pid",
                                str(process.pid),
                                "--format",
                                "raw",
                                "--output",
                                str(py_spy),
                                "--rate",
                                "250",
                                "--nonblocking",
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                if sent > (last[2] if last else 0):
                    last, threads_last = sample, threads
                if sent >= events:
                    break
            process.wait(timeout=120)
            log.seek(0)
            stderr = log.read()
        finally:
            if process.poll() is None:
                process.kill()
            if spy is not None:
                spy.wait(30)
    if "Traceback" in stderr or "ERROR" in stderr:
        print(stderr[-3000:], file=sys.stderr)
    if process.returncode != 0:
        raise RuntimeError(f"consume exited {process.returncode}: {stderr[-2000:]}")
    if first is None or last is None or last[2] <= first[2]:
        raise RuntimeError("too few scrapes to measure; use more events")
    wall = last[0] - first[0]
    cpu = last[1] - first[1]
    emails = last[2] - first[2]
    return Ceiling(
        sink=sink_kind,
        workers=workers,
        reuse=reuse,
        events=events,
        emails_per_s=round(emails / wall, 1),
        cpu_us_per_email=round(cpu / emails * 1e6, 1),
        system_us_per_email=round((last[3] - first[3]) / emails * 1e6, 1),
        cpu_share=round(cpu / wall, 3),
        peak_rss_mb=round(peak_kb / 1024, 1),
        load_average=round(os.getloadavg()[0], 2),
        threads_us_per_email={
            name: round((spent - threads_first.get(name, 0.0)) / emails * 1e6, 1)
            for name, spent in sorted(threads_last.items())
            if spent - threads_first.get(name, 0.0) > 0
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=15_000)
    parser.add_argument("--workers", type=int, action="append")
    parser.add_argument("--no-reuse", action="store_true", help="a new connection per email")
    parser.add_argument("--both", action="store_true", help="kept and new connections")
    parser.add_argument("--sink", choices=("postfix", "poolbench"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--py-spy", type=Path, help="record a py-spy raw profile here")
    options = parser.parse_args()
    sink = options.sink or ("postfix" if postfix_available() else "poolbench")
    modes = [True, False] if options.both else [not options.no_reuse]
    with EmbeddedBroker() as broker:
        for _ in range(options.repeats):
            for workers in options.workers or [50]:
                for reuse in modes:
                    point = measure(
                        broker,
                        sink_kind=sink,
                        events=options.events,
                        workers=workers,
                        reuse=reuse,
                        py_spy=options.py_spy,
                    )
                    print(json.dumps(asdict(point)), flush=True)


if __name__ == "__main__":
    main()
