"""The sweep charts (throughput, latency, memory) rendered from fixture results, checked on
their artists and axes (not pixels)."""

from __future__ import annotations

import dataclasses
import math

from tests import synthetic
from tests.report.artists import figures_by_name, legend_labels, line_ys
from tests.report.fixtures import faults, with_params


def test_the_ideal_line_is_inside_the_frame_and_drawn_apart() -> None:
    figure = figures_by_name(synthetic.seed_table())["throughput.png"]
    (ax,) = figure.axes
    ideal = max(p.ideal_throughput_per_s or 0.0 for p in synthetic.seed_table().points)
    # Not on the frame: the top of the axis is above the highest ideal.
    assert ax.get_ylim()[1] > ideal * 1.05
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert {"-", "--"} <= styles  # measured solid, ideal dashed


def test_no_legend_entry_twice_and_one_per_series_plus_one_per_kind() -> None:
    """A grid with three buffers drew six entries for three lines; now one per colour and
    one per kind of line."""
    figures = figures_by_name(synthetic.grid())
    for name in ("throughput.png", "latency.png", "memory.png"):
        (ax,) = figures[name].axes
        labels = legend_labels(ax)
        assert len(labels) == len(set(labels)), (name, labels)
        assert len(labels) == 3 + 2, (name, labels)  # buffer=10/100/500 + two kinds
        assert {"buffer=10", "buffer=100", "buffer=500"} <= set(labels)


def test_memory_peak_and_mean_are_told_apart_by_more_than_colour() -> None:
    (ax,) = figures_by_name(synthetic.seed_table())["memory.png"].axes
    peak, mean = (line for line in ax.get_lines() if line.get_label() in ("peak", "mean"))
    assert peak.get_label() == "peak" and mean.get_label() == "mean"
    assert peak.get_marker() != mean.get_marker()
    assert peak.get_linestyle() != mean.get_linestyle()
    assert mean.get_markerfacecolor() == "white"  # open circles under solid triangles
    assert ax.collections, "the band between mean and peak is shaded"
    assert set(legend_labels(ax)) == {"peak (kernel high-water mark)", "mean of the samples"}


def test_related_settings_get_a_line_unrelated_ones_markers_only() -> None:
    related = figures_by_name(synthetic.seed_table())["throughput.png"].axes[0]
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
    ax = figures_by_name(unrelated)["throughput.png"].axes[0]
    measured = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert measured and all(line.get_linestyle() == "None" for line in measured)
    # true / false is no axis to draw a line along either.
    reuse = with_params(
        dataclasses.replace(base, points=base.points[:2]),
        [{"consumer.connection_reuse": True}, {"consumer.connection_reuse": False}],
    )
    ax = figures_by_name(reuse)["latency.png"].axes[0]
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())


def test_a_point_that_measured_nothing_is_skipped_not_drawn_as_zero() -> None:
    result_set = faults(failed=True)
    (ax,) = figures_by_name(result_set)["throughput.png"].axes
    measured = next(line for line in ax.get_lines() if line.get_marker() == "o")
    ys = line_ys(measured)
    assert len(ys) == 2 and math.isnan(ys[1]) and ys[0] > 0


def test_the_throughput_chart_shows_the_offered_rate_of_an_open_load() -> None:
    (ax,) = figures_by_name(faults())["throughput.png"].axes
    assert "offered (open load)" in legend_labels(ax)


def test_a_saturated_run_draws_the_service_latency_and_an_open_one_end_to_end() -> None:
    """The latency chart headlines what the table does: the service time when every point
    saturates (end to end is poolbench's own backlog there), end to end otherwise."""
    from poolbench.results import LATENCY_KEYS

    base = synthetic.seed_table()
    saturated = dataclasses.replace(
        base,
        points=tuple(
            dataclasses.replace(
                p,
                service_ms=dataclasses.replace(
                    p.latency_ms, **{k: getattr(p.latency_ms, k) / 10 for k in LATENCY_KEYS}
                ),
            )
            for p in base.points
            if p.latency_ms is not None
        ),
    )
    (ax,) = figures_by_name(saturated)["latency.png"].axes
    assert ax.get_ylabel().startswith("service latency")
    p99 = next(line for line in ax.get_lines() if line.get_label() == "p99")
    want = [p.service_ms.p99 for p in saturated.points if p.service_ms is not None]
    assert line_ys(p99) == want
    opened = dataclasses.replace(
        saturated,
        points=tuple(dataclasses.replace(p, load_mode="open") for p in saturated.points),
    )
    (ax,) = figures_by_name(opened)["latency.png"].axes
    assert ax.get_ylabel().startswith("end-to-end latency")
    p99 = next(line for line in ax.get_lines() if line.get_label() == "p99")
    assert line_ys(p99) == [p.latency_ms.p99 for p in opened.points if p.latency_ms]
