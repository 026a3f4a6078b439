"""A consumer that starts 12 s late is measured in its steady state, with its start-up
apart (issue: it read 119.9/s for 100/s offered and p99 4,129 ms, exit 0)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from tests.examples.test_run_foreign import run_point

SCENARIO = """\
name: slow-start
topic: {{name: email-queue, partitions: 2}}
sink: {{latency: 20ms}}
consumer: {{workers: 10, buffer: 20, command: {command}}}
load: {{rate: 100/s, duration: 10s, warmup: 3s, drain: 10s, cooldown: 0s}}
"""


@pytest.mark.slow
def test_a_consumer_that_sleeps_12s_reads_its_offered_rate_with_its_start_up_apart(
    tmp_path: Path,
) -> None:
    consume = (
        f"{shlex.quote(sys.executable)} -m poolbench consume --kafka-brokers {{bootstrap}} "
        "--kafka-topic {topic} --kafka-group {group} --dlq-topic {dlq_topic} "
        "--smtp-host {smtp_host} --smtp-port {smtp_port} --workers {workers} "
        "--buffer {buffer}"
    )
    command = f"sh -c {shlex.quote('sleep 12; exec ' + consume)}"
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(SCENARIO.format(command=json.dumps(command)))
    done, _ = run_point(tmp_path, scenario)
    found = list((tmp_path / "out").rglob("results.json"))
    assert len(found) == 1, done.stderr[-3000:]
    point = json.loads(found[0].read_text())["points"][0]
    assert point["error"] is None, point["warnings"]
    assert point["throughput_per_s"] == pytest.approx(100, abs=3)
    assert point["latency_ms"]["p99"] < 100, point["latency_ms"]
    # Start-up, apart: nothing before the 12 s sleep, steady only after the catch-up.
    assert point["ready_s"] is None  # a foreign command does not say
    assert point["first_delivery_s"] >= 12
    assert point["steady_s"] > point["first_delivery_s"]
    assert done.returncode == 0, done.stderr[-3000:]
