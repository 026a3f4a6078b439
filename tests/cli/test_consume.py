"""`poolbench consume` as a process: settings, exit codes, signals, crash and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.loadgen.backlog import CommittedProgress
from poolbench.sink import SinkServer, parse_latency
from tests.consumer.e2e import (
    REPO_ROOT,
    event_value,
    new_ids,
    produce,
    topics,
    unique,
    wait_until,
)

SinkFactory = Callable[..., SinkServer]
ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith(("EMAIL_", "SMTP_", "KAFKA_", "POOLBENCH_"))
}
ENV["PYTHONPATH"] = str(REPO_ROOT)


def _consume(*args: str, **env: str) -> list[str]:
    return [sys.executable, "-m", "poolbench", "consume", *args]


class Consumer:
    """A `poolbench consume` process; stderr goes to a file so it never blocks."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str] | None = None):
        self.log = tmp_path / f"{unique('consume')}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            _consume(*args),
            env={**ENV, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(
            lambda: "consumer ready" in self.output() or self.process.poll() is not None,
            timeout,
            "consumer ready",
        )
        assert self.process.poll() is None, self.output()

    def wait(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        self._log_file.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()


@pytest.fixture
def consumers(tmp_path: Path) -> Iterator[Callable[..., Consumer]]:
    started: list[Consumer] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> Consumer:
        consumer = Consumer(tmp_path, args, env)
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        consumer.kill()


def _run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _consume(*args),
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--workers", "ten"], {}, "--workers"),
        (["--workers", "0"], {}, "--workers"),
        ([], {"EMAIL_WORKER_COUNT": "ten"}, "EMAIL_WORKER_COUNT"),
        ([], {"SMTP_PORT": "99999"}, "SMTP_PORT"),
        (["--smtp-security", "ssl3"], {}, "--smtp-security"),
        (["--shutdown-timeout", "soon"], {}, "--shutdown-timeout"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(
    args: list[str], env: dict[str, str], named: str
) -> None:
    result = _run([*args, "--kafka-brokers", "127.0.0.1:1"], env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]


def test_an_unreachable_broker_is_one_line_and_exit_2_in_bounded_time() -> None:
    # Bounded by _run's timeout: without --connect-timeout it would wait for librdkafka.
    result = _run(["--kafka-brokers", "127.0.0.1:1", "--connect-timeout", "1s"], timeout=30)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("poolbench: error")]
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:1" in lines[0]


def test_a_taken_metrics_port_fails_at_once_and_never_says_ready() -> None:
    """It printed "consumer ready" before failing on a metrics port already taken."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # No broker at all: the port is bound before Kafka is contacted.
        result = _run(
            [
                "--kafka-brokers",
                "127.0.0.1:1",
                "--connect-timeout",
                "20s",
                "--metrics-port",
                str(port),
            ],
            timeout=15,
        )
    assert result.returncode == 2, result.stderr
    assert "consumer ready" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("poolbench: error")]
    assert lines == [
        # 0.0.0.0: the default host (every interface) overlaps the taken loopback port.
        f"poolbench: error: --metrics-port: cannot listen on 0.0.0.0:{port}: Address already in use"
    ], result.stderr


_MIX = ("low", "low", "low", "low", "low", "low", "normal", "normal", "normal", "high")


def _filled_topic(
    broker: EmbeddedBroker, count: int, *, mixed: bool = False
) -> tuple[str, str, list[str]]:
    """A new input topic holding `count` valid events (with `mixed`, 10% high, 30% normal
    and 60% low priority), its dead-letter topic, their ids."""
    source, dlq = topics(broker)
    ids = new_ids(count)
    values = [
        (i, event_value(i, priority=_MIX[n % len(_MIX)] if mixed else "normal"))
        for n, i in enumerate(ids)
    ]
    produce(broker.bootstrap_servers, source, values)
    return source, dlq, ids


def _common(broker: EmbeddedBroker, sink: SinkServer, source: str, dlq: str) -> list[str]:
    return [
        "--kafka-brokers",
        broker.bootstrap_servers,
        "--kafka-topic",
        source,
        "--dlq-topic",
        dlq,
        "--smtp-host",
        sink.host,
        "--smtp-port",
        str(sink.port),
        "--commit-interval",
        "100ms",
    ]


def test_a_flag_beats_the_environment_which_beats_the_default(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, tmp_path: Path
) -> None:
    source, dlq, ids = _filled_topic(embedded_broker, 20)
    sink = sink_factory()
    summary = tmp_path / "summary.json"
    env = {
        "EMAIL_WORKER_COUNT": "not-a-number",  # overridden by --workers: never parsed
        "EMAIL_WORKER_BUFFER": "7",  # no flag: the environment wins over the default
        "KAFKA_GROUP_ID": unique("env-group"),
        "POOLBENCH_CONSUME_IN_PROCESS": "1",  # the path without re-exec, covered here
    }
    args = [*_common(embedded_broker, sink, source, dlq), "--workers", "3"]
    result = _run([*args, "--max-events", "20", "--summary-json", str(summary)], env)
    assert result.returncode == 0, result.stderr
    assert "Starting worker pool with 3 workers (buffer 7)" in result.stderr
    assert "consumer ready" in result.stderr
    assert json.loads(summary.read_text())["sent"] == 20
    assert {r.id for r in sink.receipts()} == set(ids)


@pytest.mark.slow
def test_sigterm_finishes_what_was_fetched_and_exits_0(
    embedded_broker: EmbeddedBroker,
    sink_factory: SinkFactory,
    consumers: Callable[..., Consumer],
    tmp_path: Path,
) -> None:
    count = 400
    source, dlq, ids = _filled_topic(embedded_broker, count)
    sink = sink_factory(latency=parse_latency("20ms"))
    group = unique("group")
    summary = tmp_path / "first.json"
    args = [*_common(embedded_broker, sink, source, dlq), "--kafka-group", group]
    args += ["--workers", "5", "--buffer", "10"]  # little fetched ahead: SIGTERM lands mid-run
    first = consumers([*args, "--summary-json", str(summary)])
    first.wait_ready()
    # `consume` re-executed itself as the lean consume_run process: same PID, no typer
    # and no pydantic mapped in (they cost ~13 MB of the consumer's measured memory).
    maps = Path(f"/proc/{first.process.pid}/maps").read_text()
    assert "pydantic_core" not in maps
    assert "poolbench.cli.consume_run" in Path(f"/proc/{first.process.pid}/cmdline").read_text()
    wait_until(lambda: sink.counters().received >= 50, 30, "the consumer to send")
    first.process.send_signal(signal.SIGTERM)
    assert first.wait() == 0, first.output()
    done = json.loads(summary.read_text())
    assert 50 <= done["sent"] < count  # stopped mid-run...
    assert done["left_uncommitted"] == 0  # ...with everything fetched finished
    assert done["consumed"] == done["sent"] + done["dead_lettered"]
    # A restart reads exactly the rest: nothing lost, nothing sent twice.
    rest = count - done["consumed"]
    second = consumers([*args, "--max-events", str(rest)])
    assert second.wait() == 0, second.output()
    receipts = sink.receipts()
    assert sorted(r.id for r in receipts) == sorted(ids)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", ["off", "on"])
def test_sigkill_mid_run_then_restart_delivers_every_id(
    embedded_broker: EmbeddedBroker,
    sink_factory: SinkFactory,
    consumers: Callable[..., Consumer],
    tmp_path: Path,
    lanes: str,
) -> None:
    count = 400
    source, dlq, ids = _filled_topic(embedded_broker, count, mixed=lanes == "on")
    sink = sink_factory(latency=parse_latency("20ms"))
    group = unique("group")
    args = [*_common(embedded_broker, sink, source, dlq), "--kafka-group", group, "--workers", "10"]
    # With lanes, low-priority email is overtaken: offsets finish out of order, and only
    # the contiguous ones are committed, so a kill must still lose nothing.
    args += ["--priority-lanes", lanes]
    first = consumers(args)
    first.wait_ready()
    wait_until(lambda: sink.counters().received >= 100, 30, "the consumer to send")
    committed = CommittedProgress(embedded_broker.bootstrap_servers, source, group, {}, 10)
    try:
        wait_until(lambda: committed() >= 50, 30, "the consumer to commit")
    finally:
        committed.close()
    first.kill()  # SIGKILL: no shutdown, no final commit
    # An email whose last DATA bytes were in the socket when the kill came is still
    # accepted once the sink's latency has passed (CI saw 10 such, one per worker): count
    # only after the sink has closed every connection of the killed consumer.
    wait_until(lambda: sink.counters().connections_open == 0, 10, "the sink to see the kill")
    sent_before = len(sink.receipts())
    assert sent_before < count
    summary = tmp_path / "second.json"
    second = consumers([*args, "--summary-json", str(summary)])
    second.wait_ready()
    wait_until(lambda: {r.id for r in sink.receipts()} == set(ids), 60, "every id at the sink")
    second.process.send_signal(signal.SIGTERM)
    assert second.wait() == 0, second.output()
    redelivered = json.loads(summary.read_text())["consumed"]
    duplicates = len(sink.receipts()) - count
    assert {r.id for r in sink.receipts()} == set(ids)  # at least once
    assert redelivered < count  # commits before the crash spared most of the work
    assert duplicates == redelivered - (count - sent_before)
    assert sink.counters().duplicates == duplicates


def test_help_readme_and_settings_are_one_source() -> None:
    """Every row of SETTINGS is an option of `consume` with its metavar, variable and
    default, as the generated README table shows it (that table is checked against the
    README in tests/consumer/test_settings.py)."""
    from poolbench.consumer.settings import SETTINGS, markdown_table

    result = subprocess.run(
        _consume("--help"),
        env={**ENV, "COLUMNS": "400", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if " --" in line}
    table = markdown_table()
    for spec in SETTINGS:
        assert f"`{spec.flag} {spec.kind}`".replace("|", "\\|") in table
        if spec.hidden:
            assert spec.flag not in lines
            continue
        line = lines[spec.flag]
        assert line.split()[2] == spec.kind, line
        assert f"[env var: {spec.env}]" in line, line
        assert f"[default: {spec.default_text}]" in line, line
        assert spec.help[1:] in line, line
    assert "--settings-file" not in lines  # hidden: the runner's


def _settings_file(tmp_path: Path, **fields: object) -> Path:
    from poolbench.consumer.settings import ConsumerSettings, dump_settings

    path = tmp_path / "settings.json"
    path.write_text(dump_settings(ConsumerSettings(**fields)))  # type: ignore[arg-type]
    return path


def test_a_settings_file_is_used_as_is_and_the_summary_masks_secrets(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, tmp_path: Path
) -> None:
    source, dlq, ids = _filled_topic(embedded_broker, 10)
    sink = sink_factory()
    settings = _settings_file(
        tmp_path,
        workers=3,
        buffer=7,
        kafka_brokers=embedded_broker.bootstrap_servers,
        kafka_topic=source,
        dlq_topic=dlq,
        kafka_group=unique("file-group"),
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_password="hunter2",
        commit_interval_s=0.1,
    )
    summary = tmp_path / "summary.json"
    # Neither a variable nor a flag is read once a settings file is given.
    env = {"EMAIL_WORKER_COUNT": "not-a-number", "SMTP_PASSWORD": "other"}
    args = ["--settings-file", str(settings), "--workers", "50", "--max-events", "10"]
    result = _run([*args, "--summary-json", str(summary)], env)
    assert result.returncode == 0, result.stderr
    assert "Starting worker pool with 3 workers (buffer 7)" in result.stderr
    assert {r.id for r in sink.receipts()} == set(ids)
    effective = json.loads(summary.read_text())["settings"]
    assert effective["workers"] == 3
    assert effective["connection_reuse"] is True
    assert effective["smtp_password"] == "***"
    assert "hunter2" not in summary.read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"smtp_port": "ninety"}', "settings.json:smtp_port: expected an integer"),
        ("{", "settings.json: not valid JSON"),
    ],
)
def test_a_bad_settings_file_is_one_line_and_exit_2(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    result = _run(["--settings-file", str(path)])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"poolbench: error: {tmp_path}/{message}"), result.stderr
