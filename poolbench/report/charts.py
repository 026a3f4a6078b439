"""PNG charts of a result set (matplotlib, Agg canvas; no pyplot global state).

Throughput against workers with the ideal line, latency percentiles, memory, a
per-point timeline, and a workers x buffer heatmap for grid sweeps. The x axis is
`consumer.workers` when it varies, else the first swept setting; the other swept
settings make one line each. With repeats, lines go through the median and every
repeat is drawn as a dot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from poolbench.report.summary import BUFFER, WORKERS, format_number, swept_paths
from poolbench.report.tables import to_frame
from poolbench.results import PointResult, ResultSet

_DPI: Final = 110
_SIZE: Final = (8.0, 4.8)
_PERCENTILES: Final = (
    ("latency_avg_ms", "avg"),
    ("latency_p50_ms", "p50"),
    ("latency_p90_ms", "p90"),
    ("latency_p99_ms", "p99"),
    ("latency_p999_ms", "p99.9"),
    ("latency_max_ms", "max"),
)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How points map onto a chart: the x column and the columns that split lines."""

    x: str
    x_label: str
    categorical: bool
    series: tuple[str, ...]  # grid: one line per combination of these
    along: tuple[str, ...]  # zip: these move with x, so they label its ticks


def write_charts(result_set: ResultSet, directory: Path) -> list[Path]:
    """Write every chart that applies; returns the files written."""
    if not result_set.points:
        return []
    frame = to_frame(result_set)
    layout = _layout(result_set, frame)
    written = [
        _throughput(result_set, frame, layout, directory / "throughput.png"),
        _latency(result_set, frame, layout, directory / "latency.png"),
        _memory(result_set, frame, layout, directory / "memory.png"),
    ]
    budget = _budget(result_set, directory / "budget.png")
    if budget is not None:
        written.append(budget)
    heatmap = _heatmap(result_set, frame, directory / "heatmap.png")
    if heatmap is not None:
        written.append(heatmap)
    for number, point in enumerate(result_set.points):
        if point.timeline:
            written.append(_timeline(result_set, point, directory / f"timeline-{number + 1}.png"))
        if point.by_priority and point.timeline:
            path = directory / f"priority-{number + 1}.png"
            written.append(_priority_timeline(result_set, point, path))
    return written


def _layout(result_set: ResultSet, frame: pd.DataFrame) -> _Layout:
    paths = swept_paths(result_set)
    x = WORKERS if frame[WORKERS].nunique() > 1 or not paths else paths[0]
    categorical = not pd.api.types.is_numeric_dtype(frame[x])
    others = tuple(p for p in paths if p != x)
    sweep = result_set.scenario.get("sweep") or {}
    if sweep.get("mode") == "grid":
        return _Layout(x=x, x_label=_axis_name(x), categorical=categorical, series=others, along=())
    return _Layout(x=x, x_label=_axis_name(x), categorical=categorical, series=(), along=others)


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _axis_name(path: str) -> str:
    names = {WORKERS: "workers", BUFFER: "buffer (jobs)"}
    return names.get(path, path)


def _new_figure(rows: int = 1, height: float = _SIZE[1]) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(_SIZE[0], height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return figure, axes


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def _groups(frame: pd.DataFrame, layout: _Layout) -> list[tuple[str, pd.DataFrame]]:
    """(legend label, rows) per line; one unlabeled group when nothing else is swept."""
    if not layout.series:
        return [("", frame)]
    out: list[tuple[str, pd.DataFrame]] = []
    for key, rows in frame.groupby(list(layout.series), sort=False):
        values = key if isinstance(key, tuple) else (key,)
        label = ", ".join(
            f"{_axis_name(p).split(' ')[0]}={v}" for p, v in zip(layout.series, values, strict=True)
        )
        out.append((label, rows))
    return out


def _positions(frame: pd.DataFrame, layout: _Layout) -> dict[Any, float]:
    """x position of each x value (categorical values get 0, 1, 2 ...)."""
    values = list(dict.fromkeys(frame[layout.x]))
    if layout.categorical:
        return {value: float(i) for i, value in enumerate(values)}
    return {value: float(value) for value in values}


def _xaxis(ax: Axes, frame: pd.DataFrame, layout: _Layout) -> None:
    positions = _positions(frame, layout)
    labels = [str(v) for v in positions]
    if layout.along:
        first = frame.drop_duplicates(subset=[layout.x]).set_index(layout.x)
        labels = [
            "\n".join([str(v), *(f"{_short(p)} {first.loc[v, p]}" for p in layout.along)])
            for v in positions
        ]
    ax.set_xticks(list(positions.values()), labels)
    ax.set_xlabel(layout.x_label)
    ax.grid(True, alpha=0.3)


def _line(
    ax: Axes,
    rows: pd.DataFrame,
    layout: _Layout,
    positions: dict[Any, float],
    column: str,
    **style: Any,
) -> None:
    """Median through the repeats, plus a dot per repeat when there are several."""
    medians = rows.groupby(layout.x, sort=False)[column].median()
    xs = [positions[v] for v in medians.index]
    (line,) = ax.plot(xs, list(medians.values), marker="o", **style)
    if rows["repeat"].nunique() > 1:
        ax.scatter(
            [positions[v] for v in rows[layout.x]],
            list(rows[column]),
            s=12,
            alpha=0.5,
            color=line.get_color(),
        )


def _color(number: int) -> str:
    """The default color cycle, by number."""
    return f"C{number % 10}"


def _title(result_set: ResultSet, what: str) -> str:
    return f"{what} - {result_set.scenario_name}"


def _throughput(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout, path: Path) -> Path:
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    for number, (label, rows) in enumerate(_groups(frame, layout)):
        name = f" ({label})" if label else ""
        color = _color(number)  # one color for measured and ideal
        _line(ax, rows, layout, positions, "throughput_per_s", color=color, label=f"measured{name}")
        _line(
            ax,
            rows,
            layout,
            positions,
            "ideal_throughput_per_s",
            color=color,
            linestyle="--",
            alpha=0.7,
            label=f"ideal{name}",
        )
    ax.set_ylabel("throughput (emails/s)")
    ax.set_ylim(bottom=0)
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Throughput vs {layout.x_label}"))
    ax.legend(title="ideal = min(workers / sink latency, offered rate)", fontsize="small")
    return _save(figure, path)


def _latency(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout, path: Path) -> Path:
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    groups = _groups(frame, layout)
    if len(groups) == 1:
        for column, name in _PERCENTILES:
            _line(ax, frame, layout, positions, column, label=name)
    else:
        for number, (label, rows) in enumerate(groups):
            color = _color(number)
            _line(
                ax,
                rows,
                layout,
                positions,
                "latency_p50_ms",
                color=color,
                linestyle="--",
                label=f"p50 ({label})",
            )
            _line(
                ax, rows, layout, positions, "latency_p99_ms", color=color, label=f"p99 ({label})"
            )
    values = frame[[c for c, _ in _PERCENTILES]].to_numpy().ravel()
    positive = values[values > 0]
    # Percentiles of a saturated queue span orders of magnitude; a log axis keeps p50 visible.
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("end-to-end latency (ms)")
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Latency percentiles vs {layout.x_label}"))
    ax.legend(fontsize="small", ncols=2)
    return _save(figure, path)


def _memory(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout, path: Path) -> Path:
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    for number, (label, rows) in enumerate(_groups(frame, layout)):
        name = f" ({label})" if label else ""
        color = _color(number)
        _line(ax, rows, layout, positions, "memory_peak_mb", color=color, label=f"peak RSS{name}")
        _line(
            ax,
            rows,
            layout,
            positions,
            "memory_mean_mb",
            color=color,
            linestyle="--",
            label=f"mean RSS{name}",
        )
    ax.set_ylabel("consumer memory, RSS (MB)")
    ax.set_ylim(bottom=0)
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Consumer memory vs {layout.x_label}"))
    ax.legend(fontsize="small")
    return _save(figure, path)


def _heatmap(result_set: ResultSet, frame: pd.DataFrame, path: Path) -> Path | None:
    """Workers x buffer, when the sweep is a grid over both."""
    paths = swept_paths(result_set)
    sweep = result_set.scenario.get("sweep") or {}
    if sweep.get("mode") != "grid" or WORKERS not in paths or BUFFER not in paths:
        return None
    figure = Figure(figsize=(11.0, 4.8), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    panels: Sequence[tuple[str, str, str]] = (
        ("throughput_per_s", "throughput (emails/s)", "viridis"),
        ("latency_p99_ms", "p99 latency (ms)", "magma_r"),
    )
    for i, (column, name, cmap) in enumerate(panels):
        ax = figure.add_subplot(1, 2, i + 1)
        table = frame.pivot_table(index=BUFFER, columns=WORKERS, values=column, aggfunc="median")
        image = ax.imshow(table.to_numpy(), cmap=cmap, aspect="auto", origin="lower")
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
        figure.colorbar(image, ax=ax, label=name)
    figure.suptitle(_title(result_set, "Workers x buffer"))
    return _save(figure, path)


def _cells(table: pd.DataFrame) -> list[tuple[tuple[int, int], float]]:
    out: list[tuple[tuple[int, int], float]] = []
    values = table.to_numpy()
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            value = float(values[row, col])
            if not math.isnan(value):  # a combination without a result
                out.append(((row, col), value))
    return out


_BUDGET_PARTS: Final = (
    ("connect_ms", "connect (client: render, TCP connect)"),
    ("handshake_ms", "handshake (greeting, EHLO)"),
    ("client_ms", "client think time"),
    ("server_latency_ms", "sink latency (configured)"),
    ("server_ms", "sink processing"),
    ("after_ms", "worker time after the reply (QUIT, close, next job)"),
)


def _budget(result_set: ResultSet, path: Path) -> Path | None:
    """A stacked bar per point: where the mean email's time went."""
    points = [(i, p) for i, p in enumerate(result_set.points) if p.budget_ms is not None]
    if not points:
        return None
    figure, (ax,) = _new_figure()
    labels = [
        " ".join(f"{_short(k)}={v}" for k, v in p.params.items()) or f"point {i + 1}"
        for i, p in points
    ]
    bottoms = [0.0] * len(points)
    for key, name in _BUDGET_PARTS:
        heights = []
        for _i, point in points:
            budget = point.budget_ms
            value = getattr(budget, key) if budget is not None else None
            heights.append(max(0.0, float(value)) if value is not None else 0.0)
        if not any(heights):
            continue
        ax.bar(range(len(points)), heights, bottom=bottoms, label=name)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_xticks(range(len(points)), labels, rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("ms per email (mean)")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    figure.suptitle(_title(result_set, "Where each email's time goes"))
    return _save(figure, path)


_PRIORITY_COLORS: Final = {"high": "tab:red", "normal": "tab:blue", "low": "tab:grey"}


def _priority_timeline(result_set: ResultSet, point: PointResult, path: Path) -> Path:
    """End-to-end p99 of each priority against time: does high stay fast under load?"""
    figure, (ax,) = _new_figure()
    times = [s.t_s for s in point.timeline]
    for name in ("high", "normal", "low"):
        if name not in point.by_priority:
            continue
        values = [s.p99_by_priority_ms.get(name) for s in point.timeline]
        ax.plot(
            times,
            [math.nan if v is None else v for v in values],
            marker=".",
            linewidth=1.2,
            color=_PRIORITY_COLORS[name],
            label=name,
        )
    ax.set_yscale("log")
    ax.set_ylabel("p99 end to end (ms, log)")
    ax.set_xlabel("time since load start (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="priority")
    label = " ".join(f"{_axis_name(k).split(' ')[0]}={v}" for k, v in point.params.items())
    figure.suptitle(_title(result_set, f"p99 by priority: {label or 'single point'}"))
    return _save(figure, path)


def _timeline(result_set: ResultSet, point: PointResult, path: Path) -> Path:
    figure, axes = _new_figure(rows=4, height=8.0)
    times = [s.t_s for s in point.timeline]
    series: tuple[tuple[str, list[float | None]], ...] = (
        ("delivered (emails/s)", [s.delivered_per_s for s in point.timeline]),
        ("queue depth (jobs)", [s.queue_depth for s in point.timeline]),
        ("p99 latency (ms)", [s.p99_ms for s in point.timeline]),
        ("consumer RSS (MB)", [s.rss_mb for s in point.timeline]),
    )
    load = result_set.scenario.get("load") or {}
    warmup = float(load.get("warmup") or 0.0)
    for ax, (name, raw) in zip(axes, series, strict=True):
        # None: nothing measured in that second -- a gap in the line, not a zero.
        values = [math.nan if v is None else float(v) for v in raw]
        ax.plot(times, values, marker=".", linewidth=1.2)
        ax.set_ylabel(name, fontsize="small")
        ax.set_ylim(0, max([*(v for v in values if not math.isnan(v)), 1e-9]) * 1.15)
        ax.grid(True, alpha=0.3)
        if warmup > 0:
            ax.axvspan(min(0.0, *times), warmup, color="grey", alpha=0.15, label="warm-up")
    if warmup > 0:
        axes[0].legend(fontsize="small", loc="lower right")
    axes[-1].set_xlabel("time since load start (s)")
    label = " ".join(f"{_axis_name(k).split(' ')[0]}={v}" for k, v in point.params.items())
    repeat = f", repeat {point.repeat + 1}" if point.repeat else ""
    figure.suptitle(_title(result_set, f"Timeline: {label or 'single point'}{repeat}"))
    return _save(figure, path)
