"""Reading charts back in the chart tests: the figures by file name, a line's data, a
patch's span, a legend's labels (artists and axes, not pixels)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from poolbench.report.charts import chart_figures
from poolbench.results import ResultSet


def line_xs(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_xdata(), dtype=float)]


def line_ys(line: Line2D) -> list[float]:
    return [float(v) for v in np.asarray(line.get_ydata(), dtype=float)]


def patch_span(patch: Patch) -> tuple[float, float]:
    assert isinstance(patch, Rectangle)
    return (patch.get_x(), patch.get_x() + patch.get_width())


def figures_by_name(result_set: ResultSet) -> dict[str, Figure]:
    return dict(chart_figures(result_set))


def legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]
