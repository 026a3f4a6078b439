"""The charts of a sweep: throughput (with the ideal line), latency percentiles and memory
against the swept setting, one figure each.

The x axis is `consumer.workers` when it varies, else the first swept setting; the other
swept settings of a grid make one series each. With repeats, lines go through the median
and every repeat is drawn as a dot.

Points are joined by a line only when they are one setting moving along a numeric x
(the other settings of a zip sweep moving with it in step); settings that are not
(true/false, names, a zip whose other settings go up and down) get markers only. A
legend has one entry per series (its colour) and one per kind of line (its style),
never one per line.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from poolbench.report.canvas import axis_name, chart_title, new_figure, setting_name
from poolbench.report.summary import WORKERS, headlines_service, swept_paths
from poolbench.results import ResultSet

_PERCENTILES: Final = (
    ("avg", "avg"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "max"),
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


def sweep_figures(result_set: ResultSet, frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    """(file name, figure) of the throughput, latency and memory charts of `frame`."""
    layout = _layout(result_set, frame)
    return [
        ("throughput.png", _throughput(result_set, frame, layout)),
        ("latency.png", _latency(result_set, frame, layout)),
        ("memory.png", _memory(result_set, frame, layout)),
    ]


def _layout(result_set: ResultSet, frame: pd.DataFrame) -> _Layout:
    paths = swept_paths(result_set)
    x = WORKERS if frame[WORKERS].nunique() > 1 or not paths else paths[0]
    categorical = not _numeric(frame[x])
    others = tuple(p for p in paths if p != x)
    sweep = result_set.scenario.get("sweep") or {}
    name = axis_name(x)
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
            f"{axis_name(p).split(' ')[0]}={v}" for p, v in zip(layout.series, values, strict=True)
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
            "\n".join([str(v), *(f"{setting_name(p)} {first.loc[v, p]}" for p in layout.along)])
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


_IDEAL_STYLE: Final[dict[str, Any]] = {
    "linestyle": "--",
    "linewidth": 2.5,
    "marker": "_",
    "markersize": 14,
    "alpha": 0.6,
}


def _throughput(result_set: ResultSet, frame: pd.DataFrame, layout: _Layout) -> Figure:
    figure, (ax,) = new_figure()
    positions = _positions(frame, layout)
    groups = _groups(frame, layout)
    offered = frame["offered_per_s"].notna().any()
    series = []
    for number, (label, rows) in enumerate(groups):
        color = _color(number)  # one color for measured, ideal and offered
        series.append((label, color))
        # The ideal first and wider, so the measured line over it never hides it.
        ideal = {**_IDEAL_STYLE, "color": color, "label": f"ideal {label}".strip()}
        _line(ax, rows, layout, positions, "ideal_throughput_per_s", **ideal)
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
    ax.set_title(chart_title(result_set, f"Throughput vs {layout.x_label}"))
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
    """The headline latency's percentiles (`poolbench.report.summary`): the service time
    when every point saturates, else end to end."""
    figure, (ax,) = new_figure()
    positions = _positions(frame, layout)
    groups = _groups(frame, layout)
    kind = "service" if headlines_service(result_set) else "latency"
    columns = [(f"{kind}_{key}_ms", name) for key, name in _PERCENTILES]
    if len(groups) == 1:
        for column, name in columns:
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
                f"{kind}_p50_ms",
                color=color,
                linestyle="--",
                marker="s",
                label=f"p50 ({label})",
            )
            _line(
                ax, rows, layout, positions, f"{kind}_p99_ms", color=color, label=f"p99 ({label})"
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
    values = frame[[c for c, _ in columns]].to_numpy(dtype=float).ravel()
    positive = values[values > 0]
    # Percentiles of a saturated queue span orders of magnitude; a log axis keeps p50 visible.
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_yscale("log")
    else:
        _top(ax, frame, [c for c, _ in columns])
    ax.set_ylabel(
        "service latency (ms): worker start to receipt"
        if kind == "service"
        else "end-to-end latency (ms)"
    )
    _xaxis(ax, frame, layout)
    ax.set_title(chart_title(result_set, f"Latency percentiles vs {layout.x_label}"))
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
    figure, (ax,) = new_figure()
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
    ax.set_title(chart_title(result_set, f"Consumer memory vs {layout.x_label}"))
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
