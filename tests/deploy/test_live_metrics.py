"""The metric names of a running consumer: Prometheus's conventions (`promtool check
metrics`), and emails that failed for good apart from failed attempts."""

from __future__ import annotations

import subprocess

from tests.deploy.conftest import LiveMetrics
from tests.deploy.tools import need_tool


def test_the_live_exposition_passes_promtool_check_metrics(live_metrics: LiveMetrics) -> None:
    done = subprocess.run(
        [need_tool("promtool"), "check", "metrics"],
        input=live_metrics.text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # not even a warning


def test_undeliverable_emails_are_counted_apart_from_failed_attempts(
    live_metrics: LiveMetrics,
) -> None:
    m, sink = live_metrics, live_metrics.sink
    assert sink.transient > 0 and sink.permanent > 0  # both kinds happened
    undeliverable = m.value("poolbench_emails_undeliverable_total")
    # Each refusal for good is one undeliverable email; the transient ones were retried.
    assert undeliverable == sink.permanent
    assert m.value("poolbench_emails_sent_total") + undeliverable == m.good
    assert m.value("poolbench_events_dead_lettered_total") == undeliverable + m.invalid
    assert m.value("poolbench_events_invalid_total") == m.invalid
    # Attempts: every refusal the sink made, by class; more than the emails lost.
    assert m.value("poolbench_send_attempts_failed_total", **{"class": "4xx"}) == sink.transient
    assert m.value("poolbench_send_attempts_failed_total", **{"class": "5xx"}) == sink.permanent
    assert m.value("poolbench_send_attempts_failed_total") == sink.transient + sink.permanent
    assert m.value("poolbench_send_retries_total") == sink.transient
    assert "poolbench_emails_failed_total" not in m.text  # the old, misleading name
