"""Figures for the consumer: throughput against the sink and peak memory, per worker count.

Usage (from the repository root):

    PYTHONPATH=$PWD python benchmarks/consumer_figures.py [--quick] [--out FILE.json]

For each point, a backlog of events is produced into the embedded broker first, then
`python -m poolbench consume --max-events N` runs as its own process (as the runner will
run it) against an SMTP sink in its own process. Throughput is measured at the sink:
(receipts - 1) / (last receipt - first receipt), so process start-up is not counted.
Peak RSS is sampled with psutil every 20 ms on the consume process.

The baseline, in the same run: as many bare aiosmtplib senders (kept connections, a
prebuilt message of about the same size, no Kafka) against a fresh sink of the same
latency, in a process of their own. The machine is shared, so the numbers are
indicative; each point prints as soon as it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.loadgen import LoadSpec, run_load
from poolbench.sink import SinkConfig, SinkServer, parse_latency

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    workers: int
    latency_ms: int
    events: int
    emails_per_s: float
    ideal_per_s: float | None
    share_of_ideal: float | None
    bare_emails_per_s: float  # the baseline: bare aiosmtplib senders, no Kafka
    peak_rss_mb: float
    cpu_s: float  # the consume process's CPU time (user + system), start-up included
    sink_cpu_s: float
    elapsed_s: float
    sent: int


def measure(broker: EmbeddedBroker, *, workers: int, latency_ms: int, events: int) -> Point:
    topic = f"fig-{uuid.uuid4().hex[:8]}"
    broker.create_topic(TopicSpec(topic, 8))
    broker.create_topic(TopicSpec(f"{topic}-dlq", 1))
    run_load(
        LoadSpec(topic=topic, count=events, rate="max", seed=workers * 1000 + latency_ms),
        bootstrap_servers=broker.bootstrap_servers,
    )
    config = SinkConfig(latency=parse_latency(f"{latency_ms}ms"), isolated=True)
    with SinkServer(config) as sink:
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
            sink.host,
            "--smtp-port",
            str(sink.port),
            "--workers",
            str(workers),
            "--buffer",
            "100",
            "--max-events",
            str(events),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        began = time.monotonic()
        process = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        watched = psutil.Process(process.pid)
        peak = 0
        cpu = 0.0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
                times_now = watched.cpu_times()
                cpu = times_now.user + times_now.system
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        _, stderr = process.communicate()
        elapsed = time.monotonic() - began
        if process.returncode != 0:
            raise RuntimeError(f"consume exited {process.returncode}: {stderr[-2000:]}")
        times = sorted(r.received_ns for r in sink.receipts())
        sink_cpu = sink.counters().cpu_seconds
    rate = _rate(times)
    ideal = workers / (latency_ms / 1000) if latency_ms else None
    bare = bare_rate(workers=workers, latency_ms=latency_ms, emails=events)
    return Point(
        workers=workers,
        latency_ms=latency_ms,
        events=events,
        emails_per_s=round(rate, 1),
        bare_emails_per_s=round(bare, 1),
        ideal_per_s=ideal,
        share_of_ideal=round(rate / ideal, 3) if ideal else None,
        peak_rss_mb=round(peak / 2**20, 1),
        cpu_s=round(cpu, 2),
        sink_cpu_s=round(sink_cpu, 2),
        elapsed_s=round(elapsed, 2),
        sent=len(times),
    )


def _rate(times: list[int]) -> float:
    return (len(times) - 1) / ((times[-1] - times[0]) / 1e9) if len(times) > 1 else 0.0


_BARE = r"""
import asyncio, sys
import aiosmtplib

host, port, workers, emails = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


BODY = b"\r\n".join([b"x" * 76] * 11)


async def main() -> None:
    queue = asyncio.Queue()
    for n in range(emails):
        queue.put_nowait(n)

    async def send() -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port, local_hostname="bare")
        await client.connect()
        while not queue.empty():
            n = queue.get_nowait()
            # About the size of the consumer's multipart emails (~1 KB), prebuilt.
            message = b"Subject: bare %d\r\nX-Poolbench-Id: bare-%d\r\n\r\n%b\r\n" % (n, n, BODY)
            await client.sendmail("shop@example.com", ["ana@example.org"], message)
        await client.quit()

    await asyncio.gather(*(send() for _ in range(workers)))


asyncio.run(main())
"""


def bare_rate(*, workers: int, latency_ms: int, emails: int) -> float:
    """Emails/s of bare aiosmtplib senders (own process) against a fresh sink."""
    config = SinkConfig(latency=parse_latency(f"{latency_ms}ms"), isolated=True)
    with SinkServer(config) as sink:
        command = [sys.executable, "-c", _BARE, sink.host, str(sink.port), str(workers)]
        subprocess.run([*command, str(emails)], check=True, timeout=600)
        return _rate(sorted(r.received_ns for r in sink.receipts()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events per point")
    parser.add_argument("--out", type=Path, help="write the points as JSON")
    options = parser.parse_args()
    scale = 0.3 if options.quick else 1.0
    plan = [
        # (workers, sink latency ms, events): ~3-5 s of sending per point
        (10, 0, 5000),
        (100, 0, 5000),
        (500, 0, 5000),
        (10, 100, 400),
        (100, 100, 4000),
        (500, 100, 8000),
        (1000, 100, 8000),
    ]
    points: list[Point] = []
    with EmbeddedBroker() as broker:
        for workers, latency_ms, events in plan:
            point = measure(
                broker, workers=workers, latency_ms=latency_ms, events=int(events * scale)
            )
            points.append(point)
            print(json.dumps(asdict(point)), flush=True)
    if options.out is not None:
        options.out.write_text(json.dumps([asdict(p) for p in points], indent=2) + "\n")


if __name__ == "__main__":
    main()
