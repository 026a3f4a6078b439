"""The charts of one point against time: its per-second timeline (delivered against
offered, backlog, retries and dead letters, p99, RSS, with outages, the breaker's
cooldown, the warm-up and the load's end marked) and its p99 by priority."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from poolbench.report.canvas import axis_name, chart_title, new_figure
from poolbench.report.faults import load_seconds, offered_at, point_gaps, scenario_outages
from poolbench.results import PointResult, ResultSet

_PRIORITY_COLORS: Final = {"high": "tab:red", "normal": "tab:blue", "low": "tab:grey"}


def priority_figure(result_set: ResultSet, point: PointResult) -> Figure:
    """End-to-end p99 of each priority against time: does high stay fast under load?"""
    figure, (ax,) = new_figure()
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
    label = " ".join(f"{axis_name(k).split(' ')[0]}={v}" for k, v in point.params.items())
    figure.suptitle(chart_title(result_set, f"p99 by priority: {label or 'single point'}"))
    return figure


def _values(raw: Sequence[float | None]) -> list[float]:
    """None (nothing measured in that second) as NaN: a gap in the line, never a zero."""
    return [math.nan if v is None else float(v) for v in raw]


def timeline_figure(result_set: ResultSet, point: PointResult) -> Figure:
    """Per second: delivered against offered; queue depth and Kafka lag; retries and dead
    letters; p99; RSS. Outages, the breaker's share of a gap, the warm-up and the load's
    end are marked on every panel."""
    figure, axes = new_figure(rows=5, height=10.0)
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
        top = max(finite, default=0.0)
        # All zero (no retry in the whole point): a 0-1 axis, not one scaled to 1e-9.
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
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
    label = " ".join(f"{axis_name(k).split(' ')[0]}={v}" for k, v in point.params.items())
    repeat = f", repeat {point.repeat + 1}" if point.repeat else ""
    figure.suptitle(chart_title(result_set, f"Timeline: {label or 'single point'}{repeat}"))
    return figure


def _unique_handles(ax: Axes, wanted: set[str]) -> dict[str, Any]:
    """Each wanted label once (every outage span carries the same one), in drawing order."""
    handles, labels = ax.get_legend_handles_labels()
    out: dict[str, Any] = {}
    for handle, label in zip(handles, labels, strict=True):
        if label in wanted and label not in out:
            out[label] = handle
    return out
