"""Each chart rendered from a fixture result, checked on its artists and axes (not pixels)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from poolbench.report.charts import chart_figures
from poolbench.results import ResultSet
from tests import synthetic
from tests.report.fixtures import faults, with_params


def _xs(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_xdata(), dtype=float)]


def _ys(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def _span(patch: Patch) -> tuple[float, float]:
    assert isinstance(patch, Rectangle)
    return (patch.get_x(), patch.get_x() + patch.get_width())


def _figures(result_set: ResultSet) -> dict[str, Figure]:
    return dict(chart_figures(result_set))


def _legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def test_the_ideal_line_is_inside_the_frame_and_drawn_apart() -> None:
    figure = _figures(synthetic.seed_table())["throughput.png"]
    (ax,) = figure.axes
    ideal = max(p.ideal_throughput_per_s for p in synthetic.seed_table().points)
    # Not on the frame: the top of the axis is above the highest ideal.
    assert ax.get_ylim()[1] > ideal * 1.05
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert {"-", "--"} <= styles  # measured solid, ideal dashed


def test_no_legend_entry_twice_and_one_per_series_plus_one_per_kind() -> None:
    """A grid with three buffers drew six entries for three lines; now one per colour and
    one per kind of line."""
    figures = _figures(synthetic.grid())
    for name in ("throughput.png", "latency.png", "memory.png"):
        (ax,) = figures[name].axes
        labels = _legend_labels(ax)
        assert len(labels) == len(set(labels)), (name, labels)
        assert len(labels) == 3 + 2, (name, labels)  # buffer=10/100/500 + two kinds
        assert {"buffer=10", "buffer=100", "buffer=500"} <= set(labels)


def test_memory_peak_and_mean_are_told_apart_by_more_than_colour() -> None:
    (ax,) = _figures(synthetic.seed_table())["memory.png"].axes
    peak, mean = (line for line in ax.get_lines() if line.get_label() in ("peak", "mean"))
    assert peak.get_label() == "peak" and mean.get_label() == "mean"
    assert peak.get_marker() != mean.get_marker()
    assert peak.get_linestyle() != mean.get_linestyle()
    assert mean.get_markerfacecolor() == "white"  # open circles under solid triangles
    assert ax.collections, "the band between mean and peak is shaded"
    assert set(_legend_labels(ax)) == {"peak (kernel high-water mark)", "mean of the samples"}


def test_related_settings_get_a_line_unrelated_ones_markers_only() -> None:
    related = _figures(synthetic.seed_table())["throughput.png"].axes[0]
    assert all(line.get_linestyle() != "None" for line in related.get_lines())
    # Workers up while the buffer goes up and down: the points are not one setting.
    base = synthetic.seed_table()
    unrelated = with_params(
        base,
        [
            {"consumer.workers": w, "consumer.buffer": b}
            for w, b in ((1, 200), (5, 10), (10, 100), (20, 50))
        ],
    )
    ax = _figures(unrelated)["throughput.png"].axes[0]
    measured = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert measured and all(line.get_linestyle() == "None" for line in measured)
    # true / false is no axis to draw a line along either.
    reuse = with_params(
        dataclasses.replace(base, points=base.points[:2]),
        [{"consumer.connection_reuse": True}, {"consumer.connection_reuse": False}],
    )
    ax = _figures(reuse)["latency.png"].axes[0]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())


def test_the_heatmap_uses_a_log_scale_where_values_span_decades() -> None:
    figure = _figures(synthetic.grid())["heatmap.png"]
    throughput, p99 = (ax for ax in figure.axes if ax.images)
    assert not isinstance(throughput.images[0].norm, LogNorm)  # 44 to 287: linear
    assert isinstance(p99.images[0].norm, LogNorm)  # 108 ms to 43 s
    assert any("log scale" in ax.get_ylabel() for ax in figure.axes)


def test_the_timeline_marks_outage_breaker_load_end_and_offered() -> None:
    figure = _figures(faults())["timeline-2.png"]
    delivered, backlog, faults_ax, p99, _rss = figure.axes[:5]
    legend = figure.legends[0]
    marks = {text.get_text() for text in legend.get_texts()}
    assert marks == {"warm-up", "sink outage", "breaker cooldown", "load end"}
    spans = [p for p in delivered.patches if p.get_label() == "sink outage"]
    assert len(spans) == 1
    assert _span(spans[0]) == (8.0, 10.0)
    breaker = next(p for p in delivered.patches if p.get_label() == "breaker cooldown")
    assert _span(breaker) == (10.0, 13.0)
    end = next(line for line in delivered.get_lines() if line.get_label() == "load end")
    assert _xs(end) == [15.0, 15.0]
    offered = next(line for line in delivered.get_lines() if line.get_label() == "offered")
    assert set(_ys(offered)) == {50.0}
    # The backlog in Kafka beside the pool's queue; retries and dead letters per second.
    assert {line.get_label() for line in backlog.get_lines()} >= {"pool queue depth", "Kafka lag"}
    assert {line.get_label() for line in faults_ax.get_lines()} >= {"retried", "dead-lettered"}
    # Seconds with no delivery leave a gap in p99 (NaN), never a 0 ms.
    (p99_line,) = (line for line in p99.get_lines() if line.get_label() == "p99")
    values = _ys(p99_line)
    assert all(math.isnan(v) for v in values[8:13])
    assert 0.0 not in values


def test_a_point_that_measured_nothing_is_skipped_not_drawn_as_zero() -> None:
    result_set = faults(failed=True)
    (ax,) = _figures(result_set)["throughput.png"].axes
    measured = next(line for line in ax.get_lines() if line.get_marker() == "o")
    ys = _ys(measured)
    assert len(ys) == 2 and math.isnan(ys[1]) and ys[0] > 0


def test_the_throughput_chart_shows_the_offered_rate_of_an_open_load() -> None:
    (ax,) = _figures(faults())["throughput.png"].axes
    assert "offered (open load)" in _legend_labels(ax)


@pytest.mark.parametrize("name", ["budget.png", "priority-1.png"])
def test_charts_without_their_data_are_not_drawn(name: str) -> None:
    assert name not in _figures(synthetic.seed_table())
