"""The workers x buffer heatmap of a grid sweep over both: throughput and p99, side by
side, each cell labelled with its median."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from poolbench.report.canvas import DPI, chart_title
from poolbench.report.summary import BUFFER, WORKERS, format_number, swept_paths
from poolbench.results import ResultSet


def heatmap_figure(result_set: ResultSet, frame: pd.DataFrame) -> Figure | None:
    """Workers x buffer, when the sweep is a grid over both."""
    paths = swept_paths(result_set)
    sweep = result_set.scenario.get("sweep") or {}
    if sweep.get("mode") != "grid" or WORKERS not in paths or BUFFER not in paths:
        return None
    figure = Figure(figsize=(11.0, 4.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    panels: Sequence[tuple[str, str, str]] = (
        ("throughput_per_s", "throughput (emails/s)", "viridis"),
        ("latency_p99_ms", "p99 latency (ms)", "magma_r"),
    )
    for i, (column, name, cmap) in enumerate(panels):
        ax = figure.add_subplot(1, 2, i + 1)
        table = frame.pivot_table(index=BUFFER, columns=WORKERS, values=column, aggfunc="median")
        values = table.to_numpy(dtype=float)
        image = ax.imshow(values, cmap=cmap, aspect="auto", origin="lower", norm=_norm(values))
        ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
        ax.set_yticks(range(len(table.index)), [str(r) for r in table.index])
        ax.set_xlabel("workers")
        ax.set_ylabel("buffer (jobs)")
        ax.set_title(name)
        for (row, col), value in _cells(table):
            ax.text(
                col,
                row,
                format_number(value),
                ha="center",
                va="center",
                fontsize="small",
                color="white",
                bbox={"facecolor": "black", "alpha": 0.3, "lw": 0},
            )
        log = isinstance(image.norm, LogNorm)
        figure.colorbar(image, ax=ax, label=f"{name}, log scale" if log else name)
    figure.suptitle(chart_title(result_set, "Workers x buffer"))
    return figure


def _norm(values: Any) -> Normalize:
    """A log scale where the values span more than a decade (83 and 111 ms apart from
    4,000 ms), else a linear one."""
    finite = values[~pd.isna(values)]
    positive = finite[finite > 0]
    if positive.size == finite.size and positive.size and positive.max() / positive.min() > 10:
        return LogNorm(vmin=float(positive.min()), vmax=float(positive.max()))
    return Normalize()


def _cells(table: pd.DataFrame) -> list[tuple[tuple[int, int], float]]:
    out: list[tuple[tuple[int, int], float]] = []
    values = table.to_numpy()
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            value = float(values[row, col])
            if not math.isnan(value):  # a combination without a result
                out.append(((row, col), value))
    return out
