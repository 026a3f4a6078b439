"""PNG charts of a result set: every chart that applies, by file name.

The families live beside this module, each named for what it draws: `sweep_charts`
(throughput with the ideal line, latency percentiles and memory against the swept
setting), `budget_chart` (where each email's time goes), `heatmap_chart` (workers x
buffer for grid sweeps) and `timeline_charts` (one point against time, and its p99 by
priority); `canvas` is the blank figure they all start from. `chart_figures` builds the
figures, so tests can look at their artists; `write_charts` saves them.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from poolbench.report.budget_chart import budget_figure
from poolbench.report.heatmap_chart import heatmap_figure
from poolbench.report.sweep_charts import sweep_figures
from poolbench.report.tables import to_frame
from poolbench.report.timeline_charts import priority_figure, timeline_figure
from poolbench.results import ResultSet


def chart_figures(result_set: ResultSet) -> list[tuple[str, Figure]]:
    """(file name, figure) of every chart that applies."""
    if not result_set.points:
        return []
    frame = to_frame(result_set)
    figures = sweep_figures(result_set, frame)
    budget = budget_figure(result_set)
    if budget is not None:
        figures.append(("budget.png", budget))
    heatmap = heatmap_figure(result_set, frame)
    if heatmap is not None:
        figures.append(("heatmap.png", heatmap))
    for number, point in enumerate(result_set.points, start=1):
        if point.timeline:
            figures.append((f"timeline-{number}.png", timeline_figure(result_set, point)))
        if point.by_priority and point.timeline:
            figures.append((f"priority-{number}.png", priority_figure(result_set, point)))
    return figures


def write_charts(result_set: ResultSet, directory: Path) -> list[Path]:
    """Write every chart that applies; returns the files written."""
    return [_save(figure, directory / name) for name, figure in chart_figures(result_set)]


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path
