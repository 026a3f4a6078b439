"""`poolbench run` with the foreign consumers as `consumer.command`, as a user runs it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import REPO_ROOT

SCENARIO = """\
name: {name}
topic: {{name: email-queue, partitions: 2}}
sink: {{latency: 10ms}}
consumer:
  workers: 4
  buffer: 8
  command: {command}
  env: {env}
load: {{rate: 40/s, duration: 3s, warmup: 1s, drain: 10s, cooldown: 0s{load_extra}}}
gates:
  - lost == 0
"""
GO_COMMAND = (
    "{binary} -workers {{workers}} -buffer {{buffer}} -kafka-brokers {{bootstrap}} "
    "-kafka-topic {{topic}} -smtp-host {{smtp_host}}"
)
GO_ENV = '{KAFKA_GROUP_ID: "{group}", SMTP_PORT: "{smtp_port}"}'
KAFKAJS_COMMAND = (
    "node {entry} --brokers {{bootstrap}} --topic {{topic}} --group {{group}} "
    "--smtp-host {{smtp_host}} --smtp-port {{smtp_port}} --concurrency {{workers}}"
)


def poolbench(*args: str, cwd: Path, timeout: float = 110) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_scenario(path: Path, name: str, command: str, env: str, load_extra: str = "") -> Path:
    path.write_text(
        SCENARIO.format(name=name, command=json.dumps(command), env=env, load_extra=load_extra)
    )
    return path


def run_point(tmp_path: Path, scenario: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = poolbench(
        "run", str(scenario), "--out", str(tmp_path / "out"), "--json-lines", cwd=tmp_path
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    finished = next((e for e in events if e.get("event") == "point_done"), None)
    return done, finished


def test_the_shipped_go_scenario_is_valid() -> None:
    done = poolbench("validate", "scenarios/seed-table-go.yaml", cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "4 point(s)" in done.stdout


@pytest.mark.slow
def test_run_measures_the_go_service_and_loses_nothing_in_a_clean_run(
    go_service: Path, tmp_path: Path
) -> None:
    command = GO_COMMAND.format(binary=shlex.quote(str(go_service)))
    scenario = write_scenario(tmp_path / "go.yaml", "go-tiny", command, GO_ENV)
    done, finished = run_point(tmp_path, scenario)
    assert done.returncode == 0, done.stderr[-3000:]
    assert finished is not None
    assert finished["lost"] == 0
    assert finished["throughput_per_s"] == pytest.approx(40, rel=0.15)


def _runner_knows_load_compression(tmp_path: Path) -> bool:
    probe = write_scenario(
        tmp_path / "probe.yaml", "probe", "true", "{}", load_extra=", compression: none"
    )
    return poolbench("validate", str(probe), cwd=tmp_path, timeout=60).returncode == 0


@pytest.mark.slow
def test_run_measures_the_kafkajs_consumer_once_foreign_loads_are_uncompressed(
    kafkajs: Path, tmp_path: Path
) -> None:
    """Needs `load.compression` with its default `auto` (none for a foreign consumer)."""
    # A feature this test needs that disappears is a failure, never an expected one.
    assert _runner_knows_load_compression(tmp_path), (
        "`load.compression` is no longer accepted: the load generator would produce lz4 "
        "for every consumer"
    )
    command = KAFKAJS_COMMAND.format(entry=shlex.quote(str(kafkajs)))
    # No compression key: the default must suit a foreign consumer.
    scenario = write_scenario(tmp_path / "js.yaml", "kafkajs-tiny", command, "{}")
    done, finished = run_point(tmp_path, scenario)
    assert done.returncode == 0, done.stderr[-3000:]
    assert finished is not None
    assert finished["lost"] == 0
    # It needs ~4 s to join its group: its start-up is not in the window (it read 111/s
    # and 121/s for 100/s offered when the window opened at a fixed warm-up).
    assert finished["throughput_per_s"] == pytest.approx(40, rel=0.03)


KILLED_SCENARIO = """\
name: go-killed
topic: {{name: email-queue, partitions: 1}}
sink: {{latency: 100ms}}
consumer:
  workers: 2
  buffer: 20
  command: {command}
  env: {env}
load: {{rate: 40/s, duration: 12s, warmup: 2s, drain: 3s, cooldown: 0s}}
"""


@pytest.mark.slow
def test_the_go_service_killed_mid_point_loses_what_it_committed_and_no_more(
    go_service: Path, tmp_path: Path
) -> None:
    """Commit on submit: SIGKILL with a full queue loses the queued and in-flight emails,
    whose offsets were committed (lost); what came after was never committed and is still
    in Kafka (undelivered: the drain was incomplete, nobody lost it)."""
    go = GO_COMMAND.format(binary=shlex.quote(str(go_service)))
    # The service, then SIGKILL ~8 s into the load (3 s settle + 3 s sink lead + 8 s),
    # then an idle process: the point's drain finds nothing moving.
    command = f"sh -c '{go} & pid=$!; sleep 14; kill -9 $pid; echo killed; exec sleep 600'"
    scenario = tmp_path / "killed.yaml"
    scenario.write_text(KILLED_SCENARIO.format(command=json.dumps(command), env=GO_ENV))
    done, _ = run_point(tmp_path, scenario)
    assert done.returncode != 0
    found = list((tmp_path / "out").rglob("results.json"))
    assert len(found) == 1
    point = json.loads(found[0].read_text())["points"][0]
    assert point["produced"] == (
        point["delivered"] + point["lost"] + point["undelivered"] + point["dead_lettered"]
    )
    # Its queue (20) and workers (2) were committed and never sent; no more.
    assert 0 < point["lost"] <= 2 + 20 + 1, point
    assert point["undelivered"] > 0
    assert any(
        w.startswith(f"lost {point['lost']} of") and "the group committed their offsets" in w
        for w in point["warnings"]
    )
    assert "drain incomplete" in point["error"]
