"""The load generator in its own process, and exactly which ids the broker took."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolbench.broker import BrokerProcess, EmbeddedBroker
from poolbench.errors import RunError
from poolbench.loadgen import LoadReport, LoadSpec, run_load
from poolbench.loadgen.process import LoadProcess
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS, decode_event
from tests.loadgen.kafka_client import consume_all, new_topic


@pytest.fixture(scope="module")
def broker_process() -> Iterator[BrokerProcess]:
    with BrokerProcess() as broker:
        yield broker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _read_back(address: str, topic: str, count: int) -> set[tuple[str, int, int]]:
    got = consume_all(address, topic, count)
    return {(m.headers[HEADER_ID].decode(), m.partition, m.offset) for m in got}


def test_load_process_reports_exactly_the_ids_a_consumer_reads(
    broker_process: BrokerProcess, tmp_path: Path
) -> None:
    broker_process.create_topic("exact", 4)
    spec = LoadSpec(topic="exact", rate="5000/s", count=400, poison=0.05, seed=2)
    start = time.time_ns() + 1_500_000_000
    with LoadProcess(
        spec, broker_process.bootstrap_servers, tmp_path / "load.json", start_at_wall_ns=start
    ) as load:
        assert load.pid != os.getpid()
        load.wait_ready()
        assert load.wait(60) == 0
        report = load.report()
    assert not _alive(load.pid)
    assert report.produced == report.acknowledged == 400
    assert report.start_wall_ns == start
    assert len(report.failed_seq) == 0
    acked = set(report.acked())
    assert len(acked) == 400
    assert acked == _read_back(broker_process.bootstrap_servers, "exact", 400)
    assert {p for _, p, _ in acked} == {0, 1, 2, 3}
    assert set(report.poison_ids) <= report.acked_ids()


def test_the_schedule_waits_for_the_agreed_start(
    broker_process: BrokerProcess, tmp_path: Path
) -> None:
    broker_process.create_topic("later", 1)
    start = time.time_ns() + 2_000_000_000
    spec = LoadSpec(topic="later", rate="1000/s", count=50)
    load = LoadProcess(spec, broker_process.bootstrap_servers, tmp_path / "r.json", start)
    try:
        load.wait_ready()
        ready_at = time.time_ns()
        assert load.wait(60) == 0
    finally:
        load.stop()
    got = consume_all(broker_process.bootstrap_servers, "later", 50)
    intended = sorted(int(m.headers[HEADER_INTENDED_NS]) for m in got)
    assert ready_at < start
    # The schedule starts at the agreed wall time; its stamps count from the
    # CLOCK_MONOTONIC reading paired with it.
    report = LoadReport.from_json((tmp_path / "r.json").read_text())
    assert report.start_wall_ns == start
    assert report.start_mono_ns is not None
    assert intended == [report.start_mono_ns + i * 1_000_000 for i in range(50)]


def test_sigterm_mid_run_still_flushes_and_reports(
    broker_process: BrokerProcess, tmp_path: Path
) -> None:
    broker_process.create_topic("stopped", 2)
    spec = LoadSpec(topic="stopped", rate="200/s", duration="120s")
    load = LoadProcess(spec, broker_process.bootstrap_servers, tmp_path / "r.json", time.time_ns())
    load.wait_ready()
    time.sleep(1.0)
    load.stop()
    report = load.report()
    assert report.stopped_early
    assert 0 < report.produced < 200 * 120
    assert report.acknowledged == report.produced == len(report.acked_seq)
    assert set(report.acked()) == _read_back(
        broker_process.bootstrap_servers, "stopped", report.produced
    )


def test_a_child_that_fails_before_connecting_is_a_run_error(tmp_path: Path) -> None:
    spec = LoadSpec(topic="nowhere", count=5, connect_timeout=1.0)
    load = LoadProcess(spec, "127.0.0.1:1", tmp_path / "r.json", time.time_ns())
    try:
        with pytest.raises(RunError, match="before connecting"):
            load.wait_ready(60)
        assert load.wait(30) not in (None, 0)
        with pytest.raises(RunError, match="without a report"):
            load.report()
    finally:
        load.stop()


@pytest.mark.parametrize("compression", ["none", "gzip", "lz4", "snappy", "zstd"])
def test_every_compression_is_readable_by_a_plain_consumer(
    embedded_broker: EmbeddedBroker, compression: str
) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 2)
    spec = LoadSpec(topic=topic, count=200, compression=compression, data_bytes=300)
    report = run_load(spec, bootstrap_servers=address)
    assert report.complete
    got = consume_all(address, topic, 200)
    assert len(got) == 200
    assert all(decode_event(m.value).message.id == m.headers[HEADER_ID].decode() for m in got)
    assert {(m.headers[HEADER_ID].decode(), m.partition, m.offset) for m in got} == set(
        report.acked()
    )


def test_producer_settings_reach_the_producer(embedded_broker: EmbeddedBroker) -> None:
    topic = new_topic(embedded_broker, 1)
    spec = LoadSpec(topic=topic, count=20, producer={"linger.ms": "0", "acks": "1"})
    report = run_load(spec, bootstrap_servers=embedded_broker.bootstrap_servers)
    assert report.spec["producer"] == {"linger.ms": "0", "acks": "1"}
    assert report.acknowledged == 20


def test_the_report_says_each_ids_priority_as_the_consumer_reads_it(
    broker_process: BrokerProcess, tmp_path: Path
) -> None:
    broker_process.create_topic("mixed", 2)
    spec = LoadSpec(topic="mixed", rate="5000/s", count=600, priorities="high:1,normal:3,low:6")
    with LoadProcess(spec, broker_process.bootstrap_servers, tmp_path / "load.json") as load:
        assert load.wait(60) == 0
        report = load.report()
    priorities = report.priorities()
    assert len(priorities) == 600
    counts = {name: list(priorities.values()).count(name) for name in ("high", "normal", "low")}
    # 10% / 30% / 60%, within a generous binomial margin.
    assert 30 <= counts["high"] <= 95
    assert 130 <= counts["normal"] <= 230
    assert 300 <= counts["low"] <= 420
    # The same as the events say.
    for message in consume_all(broker_process.bootstrap_servers, "mixed", 600):
        event = decode_event(message.value)
        assert priorities[message.headers[HEADER_ID].decode()] == event.message.priority
    single = LoadReport.from_json(report.to_json())
    assert single.priorities() == priorities
