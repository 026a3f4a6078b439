"""The alert and recording rules of deploy/prometheus/: valid, unit-tested by
Prometheus's own `promtool test rules`, and naming only metrics the consumer exports."""

from __future__ import annotations

import re
import subprocess

import yaml

from poolbench.consumer.metrics import ConsumerMetrics, LiveCounters
from tests.deploy.tools import RULES, RULES_DIR, RULES_TEST, need_tool


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_tool("promtool"), *args],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_rules_are_valid() -> None:
    done = _promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    done = _promtool("test", "rules", RULES_TEST.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_required_alert_is_there() -> None:
    doc = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {
        "PoolbenchConsumerLagGrowing",
        "PoolbenchCircuitBreakerOpen",
        "PoolbenchDeadLettersRising",
        "PoolbenchConsumptionPaused",
        "PoolbenchConsumerDown",
        "PoolbenchConsumerAbsent",
    }
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert tested == alerts  # every alert has a promtool test case


def test_the_rules_name_only_metrics_the_consumer_exports() -> None:
    exported = set(re.findall(r"^# TYPE (\S+)", ConsumerMetrics(LiveCounters()).exposition(), re.M))
    series = set()
    for name in exported:
        series |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    # Not the recorded series (job:poolbench_...:rate5m): those the rules make themselves.
    named = set(re.findall(r"(?<![:\w])(poolbench_[a-z_]+)(?![:\w])", RULES.read_text()))
    assert named, "no metric named"
    assert named <= series, named - series
