"""Shards as separate processes on this machine against one broker, then `poolbench merge`.

3 load shards, 2 sinks and 2 consumer instances (instance k sends to sink k) carry the
same load as a single producer, sink and consumer; the merged accounting must equal the
single run's, and the merged p99 the p99 of all receipts pooled (to the histogram's 1%).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.loadgen.report import LoadReport
from poolbench.results import PointResult, load
from poolbench.run.timeline import nearest_rank
from poolbench.sink.ledger import read_ledger
from poolbench.sink.receipt import Receipt

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 600
RATE = "200/s"
STEP_NS = 5_000_000  # 1 / 200/s
# Time every shard gets to start its interpreter and reach the broker before --start-at-ns.
START_LEAD_S = 8.0
READY_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 90.0


@dataclass(slots=True)
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait_for(self, text: str, *, where: str = "stderr", timeout: float) -> str:
        """The first line of the chosen stream that contains `text`."""
        path = self.stderr if where == "stderr" else self.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in path.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name}: no {text!r} on {where} (exit {self.popen.poll()}): "
            f"{self.stderr.read_text(errors='replace')[-2000:]}"
        )


class Procs:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Proc] = []

    def start(self, name: str, *args: str | Path) -> Proc:
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "POOLBENCH_LOG_LEVEL": "WARNING"}
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-m", "poolbench", *map(str, args)],
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        proc = Proc(name=name, popen=popen, stdout=out, stderr=err)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 30.0) -> int:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
        return proc.popen.wait(timeout)

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait(10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Procs(logs)
    try:
        yield started
    finally:
        started.kill_all()


def _ledger_count(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.exists():
            total += sum(1 for line in path.read_text().splitlines() if line.strip())
    return total


def run_shards(
    procs: Procs,
    broker: EmbeddedBroker,
    root: Path,
    *,
    loads: int,
    sinks: int,
    shard_flags: bool,
) -> list[Path]:
    """One run: `sinks` sinks and consumer instances, `loads` producers; returns the dirs."""
    tag = uuid.uuid4().hex[:8]
    topic, dlq, group = f"shards-{tag}", f"shards-dlq-{tag}", f"shards-{tag}"
    broker.create_topic(TopicSpec(topic, 4))
    broker.create_topic(TopicSpec(dlq, 1))
    servers = broker.bootstrap_servers
    dirs: list[Path] = []
    ledgers: list[Path] = []
    ports: list[str] = []
    sink_procs = []
    for j in range(sinks):
        d = root / f"sink-{j}"
        d.mkdir(parents=True)
        (d / "dlq-topic").write_text(dlq)
        dirs.append(d)
        ledgers.append(d / "sink.jsonl")
        args: list[str | Path] = ["sink", "--port", "0", "--record", d / "sink.jsonl"]
        if shard_flags:
            args += ["--shard", f"{j}/{sinks}"]
        sink = procs.start(f"{tag}-sink-{j}", *args)
        sink_procs.append(sink)
        ports.append(sink.wait_for(":", where="stdout", timeout=READY_TIMEOUT_S).rsplit(":", 1)[1])
    consumers = []
    for k in range(sinks):
        consumer = procs.start(
            f"{tag}-consumer-{k}",
            "consume",
            "--kafka-brokers",
            servers,
            "--kafka-topic",
            topic,
            "--kafka-group",
            group,
            "--dlq-topic",
            dlq,
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            ports[k],
            "--workers",
            "10",
            "--summary-json",
            dirs[k] / "summary.json",
        )
        consumers.append(consumer)
    for consumer in consumers:
        consumer.wait_for("consumer ready", timeout=READY_TIMEOUT_S)
    start_at = time.time_ns() + round(START_LEAD_S * 1e9)
    producers = []
    for i in range(loads):
        d = root / f"load-{i}"
        d.mkdir(parents=True)
        dirs.append(d)
        args = [
            "produce",
            "--bootstrap-servers",
            servers,
            "--topic",
            topic,
            "--rate",
            RATE,
            "--count",
            str(EVENTS),
            "--seed",
            "1",
            "--report",
            d / "load.json",
        ]
        if shard_flags:
            args += ["--shard", f"{i}/{loads}", "--start-at-ns", str(start_at)]
        producers.append(procs.start(f"{tag}-load-{i}", *args))
    for producer in producers:
        assert producer.popen.wait(START_LEAD_S + 60) == 0, producer.stderr.read_text()
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while _ledger_count(ledgers) < EVENTS and time.monotonic() < deadline:
        time.sleep(0.5)
    for consumer in consumers:
        assert procs.stop(consumer) == 0, consumer.stderr.read_text()
    for sink in sink_procs:
        procs.stop(sink)
    return dirs


def _merge(dirs: list[Path], out: Path, servers: str) -> PointResult:
    dlq = (dirs[0] / "dlq-topic").read_text()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "poolbench",
            "merge",
            *map(str, dirs),
            "--out",
            str(out),
            "--dlq-topic",
            dlq,
            "--bootstrap-servers",
            servers,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (point,) = load(out).points
    return point


def _reports(dirs: list[Path]) -> list[LoadReport]:
    return [
        LoadReport.from_dict(json.loads((d / "load.json").read_text()))
        for d in dirs
        if (d / "load.json").exists()
    ]


def _receipts(dirs: list[Path]) -> list[Receipt]:
    return [r for d in dirs if (d / "sink.jsonl").exists() for r in read_ledger(d / "sink.jsonl")]


def _produced_ids(reports: list[LoadReport]) -> set[str]:
    return {f"{r.id_prefix}{seq:012x}" for r in reports for seq in range(r.produced)}


def _pooled_p99_ms(receipts: list[Receipt]) -> float:
    latencies = sorted(
        (r.received_ns - r.intended_ns) / 1e6 for r in receipts if r.intended_ns is not None
    )
    value = nearest_rank(latencies, 99.0)
    assert value is not None
    return value


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sharded_run_merges_to_the_single_run(
    procs: Procs, embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    sharded = run_shards(
        procs, embedded_broker, tmp_path / "sharded", loads=3, sinks=2, shard_flags=True
    )
    single = run_shards(
        procs, embedded_broker, tmp_path / "single", loads=1, sinks=1, shard_flags=False
    )
    servers = embedded_broker.bootstrap_servers
    merged = _merge(sharded, tmp_path / "merged", servers)
    alone = _merge(single, tmp_path / "alone", servers)
    assert "merge: 0 dead letters of this run read from topic" in " ".join(merged.warnings)

    # Accounting: exact, and the same for both runs.
    assert (merged.produced, merged.delivered, merged.lost) == (EVENTS, EVENTS, 0)
    assert (alone.produced, alone.delivered, alone.lost) == (EVENTS, EVENTS, 0)
    assert merged.dead_lettered == alone.dead_lettered == 0
    assert merged.inconsistencies == alone.inconsistencies == 0
    for dirs, point in ((sharded, merged), (single, alone)):
        reports = _reports(dirs)
        receipts = _receipts(dirs)
        # Ids as sets: every id produced reached a sink, and nothing else did.
        assert {r.id for r in receipts} == _produced_ids(reports)
        assert point.duplicates == len(receipts) - len({r.id for r in receipts})
        # The merged p99 is the p99 of every receipt pooled (HdrHistogram: within 1%).
        assert point.latency_ms is not None
        assert point.latency_ms.p99 == pytest.approx(_pooled_p99_ms(receipts), rel=0.01, abs=0.002)

    # The shards together ran the single schedule: every 5 ms from a common origin.
    reports = _reports(sharded)
    assert sorted(r.produced for r in reports) == [200, 200, 200]
    assert len({r.id_prefix for r in reports}) == 3
    starts = [r.start_wall_ns for r in reports]
    assert max(starts) - min(starts) <= 50_000_000
    by_prefix = {r.id_prefix: r for r in reports}
    offsets = sorted(
        rec.intended_ns - by_prefix[rec.id[:24]].start_stamp_ns
        for rec in _receipts(sharded)
        if rec.intended_ns is not None
    )
    assert offsets == [g * STEP_NS for g in range(EVENTS)]
    manifests = [json.loads((d / "load.manifest.json").read_text()) for d in sharded[2:]]
    assert sorted(m["shard"] for m in manifests) == [0, 1, 2]
    assert len({m["params_hash"] for m in manifests}) == 1
    sink_manifests = [json.loads((d / "sink.manifest.json").read_text()) for d in sharded[:2]]
    assert sorted(m["shard"] for m in sink_manifests) == [0, 1]
