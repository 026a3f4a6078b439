"""`examples/python-consumer`: a plain Python consumer (librdkafka's defaults, smtplib, a
thread pool) through `consumer.command`, with and without poolbench's headers."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.examples.harness import REPO_ROOT
from tests.examples.test_run_foreign import run_point

CONSUMER = REPO_ROOT / "examples" / "python-consumer" / "consumer.py"
# The case: 150/s offered, 10 workers, a 20 ms sink.
SCENARIO = """\
name: {name}
topic: {{name: email-queue, partitions: 2}}
sink: {{latency: 20ms}}
consumer: {{workers: 10, buffer: 10, command: {command}}}
load: {{rate: 150/s, duration: 4s, warmup: 2s, drain: 10s, cooldown: 0s}}
"""


def write_scenario(path: Path, name: str, command: str, _env: str) -> Path:
    path.write_text(SCENARIO.format(name=name, command=json.dumps(command)))
    return path


def _stored_point(tmp_path: Path) -> dict[str, Any]:
    """The point as results.json stores it (the run's folder is kept even when it fails)."""
    found = list((tmp_path / "out").rglob("results.json"))
    assert len(found) == 1, list((tmp_path / "out").rglob("*"))
    point: dict[str, Any] = json.loads(found[0].read_text())["points"][0]
    return point


def _command(mark: str) -> str:
    return (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(CONSUMER))} --bootstrap {{bootstrap}} "
        f"--topic {{topic}} --group {{group}} --smtp-host {{smtp_host}} "
        f"--smtp-port {{smtp_port}} --workers {{workers}} --mark {mark}"
    )


@pytest.mark.slow
def test_with_the_headers_its_end_to_end_p99_is_its_service_p99_plus_little(
    tmp_path: Path,
) -> None:
    """librdkafka's default fetch.wait.max.ms is 500: the embedded broker must not hold
    an idle consumer's fetch that long (it did: end-to-end p99 577 ms against service
    69 ms). The p99 gap is held to 20 ms beyond the same gap of poolbench's own consumer
    at the same load, run just before it: on a shared 2-core machine a CPU-starved second
    adds a tail to both (the python consumer's gap was 13 ms idle, 83 ms at 200% busy)."""
    own = tmp_path / "own"
    own.mkdir()
    control = own / "own.yaml"
    control.write_text(
        SCENARIO.format(name="py-control", command='""').replace(', command: ""', "")
    )
    done, _ = run_point(own, control)
    assert done.returncode == 0, done.stderr[-3000:]
    ours = _stored_point(own)
    scenario = write_scenario(tmp_path / "py.yaml", "py-headers", _command("headers"), "{}")
    done, _ = run_point(tmp_path, scenario)
    assert done.returncode == 0, done.stderr[-3000:]
    point = _stored_point(tmp_path)
    assert point["error"] is None and point["lost"] == 0

    def gap(p: dict[str, Any], q: str) -> float:
        return float(p["latency_ms"][q]) - float(p["service_ms"][q])

    assert gap(point, "p50") < 20, (point["latency_ms"], point["service_ms"])
    assert point["wait_ms"]["p50"] < 20, point["wait_ms"]
    assert gap(point, "p99") < 20 + max(0.0, gap(ours, "p99")), (
        point["latency_ms"],
        point["service_ms"],
        ours["latency_ms"],
        ours["service_ms"],
    )


@pytest.mark.slow
def test_with_the_id_in_the_subject_only_it_is_measured_by_id(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "py.yaml", "py-subject", _command("subject"), "{}")
    done, _ = run_point(tmp_path, scenario)
    assert done.returncode == 0, done.stderr[-3000:]
    point = _stored_point(tmp_path)
    assert point["error"] is None, point["warnings"]
    assert point["lost"] == 0 and point["delivered"] == point["produced"]
    assert point["latency_ms"]["p99"] > 0
    assert point.get("service_ms") is None  # no worker start stamp: no service time
    assert any("read back from the topic" in w for w in point["warnings"])


@pytest.mark.slow
def test_with_neither_it_is_one_error_and_the_run_keeps_its_measurements_and_log(
    tmp_path: Path,
) -> None:
    scenario = write_scenario(tmp_path / "py.yaml", "py-none", _command("none"), "{}")
    done, _ = run_point(tmp_path, scenario)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode != 0
    point = _stored_point(tmp_path)
    first = point["error"].split("; ")[0]
    assert "carries a poolbench id" in first and "X-Poolbench-Id" in first
    assert point["delivered"] == 0 and point["produced"] > 0
    logs = list((tmp_path / "out").rglob("consumer*.log"))
    assert logs and "assigned" in logs[0].read_text()


@pytest.mark.slow
def test_subscribed_to_the_scenarios_topic_name_it_is_diagnosed_in_seconds(
    tmp_path: Path,
) -> None:
    """`--topic email-queue` (topic.name) instead of `{topic}`: the point fails at ~20 s
    naming the group's topic and the consumer's own complaint; no drain, no "Ctrl-C"."""
    command = _command("headers").replace("--topic {topic}", "--topic email-queue")
    scenario = tmp_path / "py.yaml"
    scenario.write_text(
        SCENARIO.format(name="py-typo", command=json.dumps(command)).replace(
            "duration: 4s", "duration: 40s"
        )
    )
    done, _ = run_point(tmp_path, scenario)
    assert done.returncode != 0
    point = _stored_point(tmp_path)
    error = point["error"]
    assert "has no member on topic email-queue-" in error, error
    assert "(does the consumer subscribe to `{topic}`?)" in error
    # librdkafka does not join a group for a topic that does not exist.
    assert "no consumer joined group" in error or "its members subscribed to email-queue;" in error
    assert "Subscribed topic not available" in error
    assert "Ctrl-C" not in error and "drain stopped" not in error
    # Cut at ~20 s of a 42 s load, and no drain after it.
    assert point["load_s"] < 30, point["load_s"]
