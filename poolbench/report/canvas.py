"""What every report chart starts from: a blank figure of the report's size and
resolution on an Agg canvas (no pyplot global state), its title, and the names of the
settings on its axes."""

from __future__ import annotations

from typing import Final

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from poolbench.report.summary import BUFFER, WORKERS
from poolbench.results import ResultSet

DPI: Final = 110
SIZE: Final = (8.0, 4.8)


def new_figure(rows: int = 1, height: float = SIZE[1]) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(SIZE[0], height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return figure, axes


def chart_title(result_set: ResultSet, what: str) -> str:
    return f"{what} - {result_set.scenario_name}"


def setting_name(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def axis_name(path: str) -> str:
    names = {WORKERS: "workers", BUFFER: "buffer (jobs)"}
    return names.get(path, path)
