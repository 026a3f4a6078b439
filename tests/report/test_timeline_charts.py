"""A point's timeline rendered from the faults fixture, checked on its artists and axes."""

from __future__ import annotations

import math

from tests.report.artists import figures_by_name, line_xs, line_ys, patch_span
from tests.report.fixtures import faults


def test_the_timeline_marks_outage_breaker_load_end_and_offered() -> None:
    figure = figures_by_name(faults())["timeline-2.png"]
    delivered, backlog, faults_ax, p99, _rss = figure.axes[:5]
    legend = figure.legends[0]
    marks = {text.get_text() for text in legend.get_texts()}
    assert marks == {"warm-up", "sink outage", "breaker cooldown", "load end"}
    spans = [p for p in delivered.patches if p.get_label() == "sink outage"]
    assert len(spans) == 1
    assert patch_span(spans[0]) == (8.0, 10.0)
    breaker = next(p for p in delivered.patches if p.get_label() == "breaker cooldown")
    assert patch_span(breaker) == (10.0, 13.0)
    end = next(line for line in delivered.get_lines() if line.get_label() == "load end")
    assert line_xs(end) == [15.0, 15.0]
    offered = next(line for line in delivered.get_lines() if line.get_label() == "offered")
    assert set(line_ys(offered)) == {50.0}
    # The backlog in Kafka beside the pool's queue; retries and dead letters per second.
    assert {line.get_label() for line in backlog.get_lines()} >= {"pool queue depth", "Kafka lag"}
    assert {line.get_label() for line in faults_ax.get_lines()} >= {"retried", "dead-lettered"}
    # Seconds with no delivery leave a gap in p99 (NaN), never a 0 ms.
    (p99_line,) = (line for line in p99.get_lines() if line.get_label() == "p99")
    values = line_ys(p99_line)
    assert all(math.isnan(v) for v in values[8:13])
    assert 0.0 not in values


def test_a_panel_of_zeros_gets_a_plain_axis_not_one_scaled_to_1e_9() -> None:
    import dataclasses

    from poolbench.report.timeline_charts import timeline_figure

    result_set = faults()
    point = result_set.points[0]
    calm = tuple(
        dataclasses.replace(s, retried_per_s=0.0, dead_lettered_per_s=0.0) for s in point.timeline
    )
    figure = timeline_figure(result_set, dataclasses.replace(point, timeline=calm))
    faults_ax = figure.axes[2]
    assert {line.get_label() for line in faults_ax.get_lines()} >= {"retried", "dead-lettered"}
    assert faults_ax.get_ylim() == (0.0, 1.0)
