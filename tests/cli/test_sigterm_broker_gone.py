"""A stopped `produce` or `consume` exits within `KILL_AFTER_S` of SIGTERM, even when its
broker is gone.

An orphaned `produce` used to wait out librdkafka's whole delivery timeout (40 s) in its
final flush, and ignored SIGTERM meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poolbench.broker import BrokerProcess
from poolbench.loadgen.report import LoadReport
from poolbench.orphans import KILL_AFTER_S
from poolbench.sink import SinkServer
from tests.consumer.e2e import REPO_ROOT, unique

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "SMTP_", "KAFKA_"))}
ENV["PYTHONPATH"] = str(REPO_ROOT)


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "poolbench", *argv],
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _sigterm_once_the_broker_is_gone(
    process: subprocess.Popen[bytes], broker: BrokerProcess
) -> float:
    """SIGKILL the broker (as in a crash), SIGTERM the process a second later: how long
    it took to exit. Nothing of it is left either way."""
    try:
        os.kill(broker.pid, signal.SIGKILL)
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        process.wait(60)
        return time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.mark.slow
def test_produce_honours_sigterm_in_time_when_the_broker_is_gone(tmp_path: Path) -> None:
    topic = unique("emails")
    log, report = tmp_path / "produce.log", tmp_path / "report.json"
    with BrokerProcess() as broker:
        broker.create_topic(topic, 2)
        argv = ["produce", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic]
        argv += ["--rate", "200/s", "--duration", "120s", "--report", str(report)]
        process = _start(argv, log)
        time.sleep(3)  # it produces meanwhile
        running = process.poll() is None
        took = _sigterm_once_the_broker_is_gone(process, broker)
    assert running, log.read_text()
    assert took <= KILL_AFTER_S, f"{took:.1f}s after SIGTERM: {log.read_text()[-2000:]}"
    # It still reports, and says it was stopped and what was never acknowledged.
    done = LoadReport.from_json(report.read_text())
    assert done.stopped_early
    assert 0 < done.acknowledged < done.produced


@pytest.mark.slow
def test_consume_honours_sigterm_in_time_when_the_broker_is_gone(
    tmp_path: Path, sink_factory: Callable[..., SinkServer]
) -> None:
    """Its final commit and group leave wait on a coordinator that is gone: bounded, so
    the consumer exits within `KILL_AFTER_S` (it took about 4 s before)."""
    sink = sink_factory()
    topic = unique("emails")
    log = tmp_path / "consume.log"
    with BrokerProcess() as broker:
        broker.create_topic(topic, 2)
        produce = ["produce", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic]
        produce += ["--count", "200", "--rate", "max"]
        subprocess.run(
            [sys.executable, "-m", "poolbench", *produce],
            env=ENV,
            check=True,
            capture_output=True,
            timeout=60,
        )
        argv = ["consume", "--kafka-brokers", broker.bootstrap_servers, "--kafka-topic", topic]
        argv += ["--kafka-group", unique("g"), "--smtp-host", "127.0.0.1"]
        argv += ["--smtp-port", str(sink.port), "--workers", "5"]
        process = _start(argv, log)
        deadline = time.monotonic() + 30
        while sink.counters().received < 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # it has joined, consumed and has offsets to commit
        received = sink.counters().received
        took = _sigterm_once_the_broker_is_gone(process, broker)
    assert received >= 200, log.read_text()[-2000:]
    assert took <= KILL_AFTER_S, f"{took:.1f}s after SIGTERM: {log.read_text()[-2000:]}"
