from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from poolbench.broker import EmbeddedBroker
from tests.loadgen.kafka_client import consume_all, new_topic

ROOT = Path(__file__).resolve().parents[2]


def _run(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", "produce", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_produce_sends_count_and_writes_the_report(
    embedded_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = new_topic(embedded_broker, 4)
    report_file = tmp_path / "load.json"
    run = _run(
        [
            "--topic",
            topic,
            "--count",
            "200",
            "--rate",
            "2000/s",
            "--poison",
            "0.05",
            "--seed",
            "9",
            "--report",
            str(report_file),
        ],
        env={"KAFKA_BROKERS": embedded_broker.bootstrap_servers},
    )
    assert run.returncode == 0, run.stderr
    assert "produced 200" in run.stdout
    report = json.loads(report_file.read_text())
    assert report["produced"] == report["acknowledged"] == 200
    assert report["spec"]["rate"] == "2000/s"
    assert len(consume_all(embedded_broker.bootstrap_servers, topic, 200)) == 200


def test_unreachable_broker_exits_2_with_one_line_in_bounded_time() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Bounded by _run's timeout: without --connect-timeout it would wait for librdkafka.
    run = _run(
        ["--bootstrap-servers", f"127.0.0.1:{port}", "--count", "5", "--connect-timeout", "2s"],
        timeout=30,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("poolbench: error: Kafka at 127.0.0.1:")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--count", "5", "--rate", "fast"], "--rate"),
        (["--count", "-1"], "--count"),
        (["--count", "5", "--rate", "wave:1/s:2/s"], "unknown profile"),
        (["--count", "5", "--backlog", "100"], "--group"),
        (["--count", "5", "--rate", "saturate"], "saturate needs a consumer group"),
        (["--count", "5", "--rate", "500/s", "--backlog", "9", "--group", "g"], "--rate max"),
        ([], "bound the run"),
    ],
)
def test_bad_flags_exit_2_with_one_clear_line(args: list[str], fragment: str) -> None:
    run = _run(["--bootstrap-servers", "127.0.0.1:1", *args], timeout=30)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1
    assert fragment in run.stderr


def test_a_backlog_without_a_committing_group_fails_with_one_line(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = new_topic(embedded_broker, 1)
    args = ["--topic", topic, "--count", "50", "--rate", "saturate", "--backlog", "5"]
    run = _run(
        [*args, "--group", "nobody-home", "--stall-timeout", "1s"],
        env={"KAFKA_BROKERS": embedded_broker.bootstrap_servers},
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "nobody-home" in lines[0]
    assert topic in lines[0]
