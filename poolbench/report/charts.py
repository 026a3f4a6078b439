"""PNG charts of a result set (matplotlib, Agg canvas; no pyplot global state).

Throughput against workers with the ideal line, latency percentiles, memory, a
per-point timeline, and a workers x buffer heatmap for grid sweeps. The x axis is
`consumer.workers` when it varies, else the first swept setting; the other swept
settings of a grid make one series each. With repeats, lines go through the median and
every repeat is drawn as a dot.

Points are joined by a line only when they are one setting moving along a numeric x
(the other settings of a zip sweep moving with it in step); settings that are not
(true/false, names, a zip whose other settings go up and down) get markers only. A
legend has one entry per series (its colour) and one per kind of line (its style),
never one per line. `chart_figures` builds the figures, so tests can look at their
artists; `write_charts` saves them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from poolbench.report.faults import load_seconds, offered_at, point_gaps, scenario_outages
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
    joined: bool = True  # a line through the points; False: markers only


def chart_figures(result_set: ResultSet) -> list[tuple[str, Figure]]:
    """(file name, figure) of every chart that applies."""
    if not result_set.points:
        return []
    frame = to_frame(result_set)
    layout = _layout(result_set, frame)
    figures = [
        ("throughput.png", _throughput(result_set, frame, layout)),
        ("latency.png", _latency(result_set, frame, layout)),
        ("memory.png", _memory(result_set, frame, layout)),
    ]
    budget = _budget(result_set)
    if budget is not None:
        figures.append(("budget.png", budget))
    heatmap = _heatmap(result_set, frame)
    if heatmap is not None:
        figures.append(("heatmap.png", heatmap))
    for number, point in enumerate(result_set.points, start=1):
        if point.timeline:
            figures.append((f"timeline-{number}.png", _timeline(result_set, point)))
        if point.by_priority and point.timeline:
            figures.append((f"priority-{number}.png", _priority_timeline(result_set, point)))
    return figures


def write_charts(result_set: ResultSet, directory: Path) -> list[Path]:
    """Write every chart that applies; returns the files written."""
    return [_save(figure, directory / name) for name, figure in chart_figures(result_set)]


def _layout(result_set: ResultSet, frame: pd.DataFrame) -> _Layout:
    paths = swept_paths(result_set)
    x = WORKERS if frame[WORKERS].nunique() > 1 or not paths else paths[0]
    categorical = not _numeric(frame[x])
    others = tuple(p for p in paths if p != x)
    sweep = result_set.scenario.get("sweep") or {}
    name = _axis_name(x)
    if sweep.get("mode") == "grid":
        return _Layout(
            x=x,
            x_label=name,
            categorical=categorical,
            series=others,
            along=(),
            joined=not categorical,
        )
    # A zip: one line only if every other setting moves in step with x.
    joined = not categorical and all(_in_step(frame, x, other) for other in others)
    return _Layout(
        x=x, x_label=name, categorical=categorical, series=(), along=others, joined=joined
    )


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _in_step(frame: pd.DataFrame, x: str, other: str) -> bool:
    """`other` is numeric and never goes down while x goes up (1/10, 5/50, 10/100 ...)."""
    if not _numeric(frame[other]):
        return False
    pairs = frame[[x, other]].drop_duplicates().sort_values(x)
    values = list(pairs[other])
    return all(a <= b for a, b in itertools.pairwise(values))


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


def _legend(
    ax: Axes,
    series: Sequence[tuple[str, str]],
    kinds: Sequence[tuple[str, dict[str, Any]]],
    **options: Any,
) -> None:
    """One entry per series (label, colour) and one per kind of line (label, style)."""
    handles: list[Line2D] = []
    labels: list[str] = []
    if len(series) > 1:
        for label, color in series:
            handles.append(Line2D([], [], color=color, linewidth=6, alpha=0.8))
            labels.append(label)
    for label, style in kinds:
        color = style.get("color", "black" if len(series) > 1 else _color(0))
        handles.append(Line2D([], [], **{**style, "color": color}))
        labels.append(label)
    ax.legend(handles, labels, fontsize="small", **options)


def _top(ax: Axes, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """y from 0 to above every value, so no line sits on the frame."""
    values = pd.concat([frame[c] for c in columns if c in frame]).dropna()
    top = float(values.max()) if len(values) else 1.0
    ax.set_ylim(0, max(top, 1e-9) * 1.15)


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
    """Median through the repeats, plus a dot per repeat when there are several; markers
    only when the points are not one setting moving along x."""
    medians = rows.groupby(layout.x, sort=False)[column].median()
    xs = [positions[v] for v in medians.index]
    style = {"marker": "o", **style}
    if not layout.joined:
        style["linestyle"] = "none"
        style["markersize"] = style.get("markersize", 8)
    (line,) = ax.plot(xs, list(medians.values), **style)
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


def _throughput(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout) -> Figure:
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    groups = _groups(frame, layout)
    offered = frame["offered_per_s"].notna().any()
    series = []
    for number, (label, rows) in enumerate(groups):
        color = _color(number)  # one color for measured, ideal and offered
        series.append((label, color))
        # The ideal first and wider, so the measured line over it never hides it.
        _line(
            ax,
            rows,
            layout,
            positions,
            "ideal_throughput_per_s",
            color=color,
            linestyle="--",
            linewidth=2.5,
            marker="_",
            markersize=14,
            alpha=0.6,
            label=f"ideal {label}".strip(),
        )
        _line(ax, rows, layout, positions, "throughput_per_s", color=color, label=label or None)
        if offered:
            _line(
                ax,
                rows,
                layout,
                positions,
                "offered_per_s",
                color=color,
                linestyle=":",
                marker="x",
                alpha=0.8,
                label=f"offered {label}".strip(),
            )
    ax.set_ylabel("throughput (emails/s)")
    _top(ax, frame, ["throughput_per_s", "ideal_throughput_per_s", "offered_per_s"])
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Throughput vs {layout.x_label}"))
    joined = "-" if layout.joined else "none"
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("measured", {"marker": "o", "linestyle": joined}),
        ("ideal = min(workers / sink latency, offered)", {"linestyle": "--", "linewidth": 2.5}),
    ]
    if offered:
        kinds.append(("offered (open load)", {"linestyle": ":", "marker": "x"}))
    _legend(ax, series, kinds, loc="best")
    return figure


def _latency(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout) -> Figure:
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    groups = _groups(frame, layout)
    if len(groups) == 1:
        for column, name in _PERCENTILES:
            _line(ax, frame, layout, positions, column, label=name)
        ax.legend(fontsize="small", ncols=2)
    else:
        series = []
        for number, (label, rows) in enumerate(groups):
            color = _color(number)
            series.append((label, color))
            _line(
                ax,
                rows,
                layout,
                positions,
                "latency_p50_ms",
                color=color,
                linestyle="--",
                marker="s",
                label=f"p50 ({label})",
            )
            _line(
                ax, rows, layout, positions, "latency_p99_ms", color=color, label=f"p99 ({label})"
            )
        joined = layout.joined
        _legend(
            ax,
            series,
            [
                ("p99", {"marker": "o", "linestyle": "-" if joined else "none"}),
                ("p50", {"marker": "s", "linestyle": "--" if joined else "none"}),
            ],
            ncols=2,
        )
    values = frame[[c for c, _ in _PERCENTILES]].to_numpy(dtype=float).ravel()
    positive = values[values > 0]
    # Percentiles of a saturated queue span orders of magnitude; a log axis keeps p50 visible.
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_yscale("log")
    else:
        _top(ax, frame, [c for c, _ in _PERCENTILES])
    ax.set_ylabel("end-to-end latency (ms)")
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Latency percentiles vs {layout.x_label}"))
    return figure


_PEAK_STYLE: Final = {"marker": "^", "markersize": 8, "linestyle": "-", "linewidth": 2.0}
_MEAN_STYLE: Final = {
    "marker": "o",
    "markersize": 6,
    "markerfacecolor": "white",
    "linestyle": ":",
    "linewidth": 1.5,
}


def _memory(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout) -> Figure:
    """Peak (solid, triangles) and mean (dotted, open circles), the band between shaded:
    the two can be told apart even where they almost meet."""
    figure, (ax,) = _new_figure()
    positions = _positions(frame, layout)
    series = []
    for number, (label, rows) in enumerate(_groups(frame, layout)):
        color = _color(number)
        series.append((label, color))
        peak = dict(_PEAK_STYLE)
        mean = dict(_MEAN_STYLE)
        _line(ax, rows, layout, positions, "memory_peak_mb", color=color, label="peak", **peak)
        _line(ax, rows, layout, positions, "memory_mean_mb", color=color, label="mean", **mean)
        if layout.joined:
            medians = rows.groupby(layout.x, sort=False)[["memory_peak_mb", "memory_mean_mb"]]
            band = medians.median()
            xs = [positions[v] for v in band.index]
            ax.fill_between(
                xs,
                list(band["memory_mean_mb"]),
                list(band["memory_peak_mb"]),
                color=color,
                alpha=0.12,
                linewidth=0,
            )
    ax.set_ylabel("consumer memory, RSS (MB)")
    _top(ax, frame, ["memory_peak_mb", "memory_mean_mb"])
    _xaxis(ax, frame, layout)
    ax.set_title(_title(result_set, f"Consumer memory vs {layout.x_label}"))
    joined = layout.joined
    _legend(
        ax,
        series,
        [
            (
                "peak (kernel high-water mark)",
                {**_PEAK_STYLE, "linestyle": "-" if joined else "none"},
            ),
            ("mean of the samples", {**_MEAN_STYLE, "linestyle": ":" if joined else "none"}),
        ],
        loc="lower right",
    )
    return figure


def _heatmap(result_set: ResultSet, frame: pd.DataFrame) -> Figure | None:
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
    figure.suptitle(_title(result_set, "Workers x buffer"))
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


_BUDGET_PARTS: Final = (
    ("connect_ms", "connect (client: render, TCP connect)"),
    ("handshake_ms", "handshake (greeting, EHLO)"),
    ("client_ms", "client think time"),
    ("server_latency_ms", "sink latency (configured)"),
    ("server_ms", "sink processing"),
    ("after_ms", "worker time after the reply (QUIT, close, next job)"),
)


def _budget(result_set: ResultSet) -> Figure | None:
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
    return figure


_PRIORITY_COLORS: Final = {"high": "tab:red", "normal": "tab:blue", "low": "tab:grey"}


def _priority_timeline(result_set: ResultSet, point: PointResult) -> Figure:
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
    return figure


def _values(raw: Sequence[float | None]) -> list[float]:
    """None (nothing measured in that second) as NaN: a gap in the line, never a zero."""
    return [math.nan if v is None else float(v) for v in raw]


def _timeline(result_set: ResultSet, point: PointResult) -> Figure:
    """Per second: delivered against offered; queue depth and Kafka lag; retries and dead
    letters; p99; RSS. Outages, the breaker's share of a gap, the warm-up and the load's
    end are marked on every panel."""
    figure, axes = _new_figure(rows=5, height=10.0)
    timeline = point.timeline
    times = [s.t_s for s in timeline]
    delivered_ax, queue_ax, faults_ax, p99_ax, rss_ax = axes
    delivered_ax.plot(
        times, _values([s.delivered_per_s for s in timeline]), marker=".", label="delivered"
    )
    offered = [offered_at(result_set.scenario, t) for t in times]
    if any(v is not None for v in offered):
        delivered_ax.step(
            times,
            _values(offered),
            where="post",
            color="grey",
            linestyle="--",
            label="offered",
        )
    delivered_ax.set_ylabel("emails/s", fontsize="small")
    queue_ax.plot(
        times, _values([s.queue_depth for s in timeline]), marker=".", label="pool queue depth"
    )
    lag = [s.lag for s in timeline]
    if any(v is not None for v in lag):
        queue_ax.plot(times, _values(lag), marker=".", color="tab:purple", label="Kafka lag")
    queue_ax.set_ylabel("backlog (emails)", fontsize="small")
    retried = [s.retried_per_s for s in timeline]
    dead = [s.dead_lettered_per_s for s in timeline]
    faults_ax.plot(times, _values(retried), marker=".", color="tab:orange", label="retried")
    faults_ax.plot(times, _values(dead), marker="x", color="tab:red", label="dead-lettered")
    faults_ax.set_ylabel("per second", fontsize="small")
    if all(v is None for v in (*retried, *dead)):
        faults_ax.text(
            0.5,
            0.5,
            "retries and dead letters not reported by this consumer",
            transform=faults_ax.transAxes,
            ha="center",
            va="center",
            fontsize="small",
            color="grey",
        )
    p99_ax.plot(times, _values([s.p99_ms for s in timeline]), marker=".", label="p99")
    p99_ax.set_ylabel("p99 latency (ms)", fontsize="small")
    rss_ax.plot(times, _values([s.rss_mb for s in timeline]), marker=".", label="RSS")
    rss_ax.set_ylabel("consumer RSS (MB)", fontsize="small")
    load = result_set.scenario.get("load") or {}
    warmup = float(load.get("warmup") or 0.0)
    load_s = load_seconds(result_set, point)
    outages = scenario_outages(result_set.scenario)
    breaker = [c for c in point_gaps(result_set, point) if c.by_breaker and c.outage]
    for ax in axes:
        ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
        finite = [float(v) for values in ys for v in values if not math.isnan(float(v))]
        ax.set_ylim(0, max([*finite, 1e-9]) * 1.15)
        ax.grid(True, alpha=0.3)
        # This panel's own lines in its legend; the time marks once, above the panels.
        ax.legend(fontsize="x-small", loc="upper left", ncols=2)
        if warmup > 0:
            ax.axvspan(min(0.0, *times), warmup, color="grey", alpha=0.15, label="warm-up")
        for outage in outages:
            ax.axvspan(outage.at_s, outage.end_s, color="tab:red", alpha=0.2, label="sink outage")
        for cause in breaker:
            assert cause.outage is not None
            ax.axvspan(
                cause.outage.end_s,
                cause.gap.end_s,
                color="tab:orange",
                alpha=0.15,
                hatch="//",
                label="breaker cooldown",
            )
        if load_s is not None:
            ax.axvline(load_s, color="black", linestyle="-.", linewidth=1, label="load end")
    marks = _unique_handles(axes[0], {"warm-up", "sink outage", "breaker cooldown", "load end"})
    if marks:
        figure.legend(
            list(marks.values()), list(marks), loc="outside lower center", ncols=4, fontsize="small"
        )
    axes[-1].set_xlabel("time since load start (s)")
    label = " ".join(f"{_axis_name(k).split(' ')[0]}={v}" for k, v in point.params.items())
    repeat = f", repeat {point.repeat + 1}" if point.repeat else ""
    figure.suptitle(_title(result_set, f"Timeline: {label or 'single point'}{repeat}"))
    return figure


def _unique_handles(ax: Axes, wanted: set[str]) -> dict[str, Any]:
    """Each wanted label once (every outage span carries the same one), in drawing order."""
    handles, labels = ax.get_legend_handles_labels()
    out: dict[str, Any] = {}
    for handle, label in zip(handles, labels, strict=True):
        if label in wanted and label not in out:
            out[label] = handle
    return out
