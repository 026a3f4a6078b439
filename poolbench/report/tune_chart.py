"""The chart of a tuning search: throughput and p99 against workers, in two panels, with the
target marked in each.

Matplotlib's Agg canvas directly (no pyplot global state). Target-rate points and saturating
points are drawn apart: the first show whether the rate and the p99 were met, the second the
ceiling. The USL fit is drawn solid over the measured range and dotted beyond it, where it is
an extrapolation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from poolbench.tune.advice import Recommendation
from poolbench.tune.probes import ProbeLoad

_DPI: Final = 110
_SIZE: Final = (8.0, 6.0)


def tune_chart(rec: Recommendation, path: Path) -> Path:
    """Write the chart to `path` (PNG) and return it."""
    fig = tune_figure(rec)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def tune_figure(rec: Recommendation) -> Figure:
    """Two panels sharing the workers axis: throughput above, p99 below (one quantity per
    axis, so a p99 marker is never read as a throughput)."""
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(2, 1, sharex=True)
    target = [p for p in rec.probes if p.load is ProbeLoad.TARGET]
    saturate = [p for p in rec.probes if p.load is ProbeLoad.SATURATE]
    ok = [p for p in target if p.meets]
    failed = [p for p in target if not p.meets]
    for group, marker, label in ((ok, "o", "meets target"), (failed, "x", "misses target")):
        if group:
            ax.scatter(
                [p.workers for p in group],
                [p.measurement.throughput for p in group],
                marker=marker,
                color="tab:blue",
                label=f"at {rec.target.rate:g}/s ({label})",
                zorder=3,
            )
            ax2.scatter(
                [p.workers for p in group],
                [p.measurement.p99_ms for p in group],
                marker=marker,
                color="tab:red",
                label=f"p99 at {rec.target.rate:g}/s ({label})",
                zorder=3,
            )
    if saturate:
        ax.scatter(
            [p.workers for p in saturate],
            [p.measurement.throughput for p in saturate],
            marker="^",
            color="tab:green",
            label="ceiling (saturating load)",
            zorder=3,
        )
    workers = [p.workers for p in rec.probes] or [1]
    lo, hi = min(workers), max(workers)
    usl = rec.model.usl
    if usl is not None:
        span = max(hi * 1.5, usl.n_max + 1)
        inside = _range(max(1.0, usl.n_min), float(usl.n_max))
        beyond = _range(float(usl.n_max), span)
        ax.plot(inside, [usl.predict(n) for n in inside], color="tab:green", label="USL fit")
        ax.plot(
            beyond,
            [usl.predict(n) for n in beyond],
            color="tab:green",
            linestyle=":",
            label="USL extrapolated",
        )
    ax.axhline(rec.target.rate, color="tab:blue", linestyle="--", linewidth=1, label="target rate")
    ax2.axhline(rec.target.p99_ms, color="tab:red", linestyle="--", linewidth=1, label="p99 target")
    if rec.target.p99_margin > 0:
        ax2.axhline(
            rec.target.max_p99_ms,
            color="tab:red",
            linestyle=":",
            linewidth=1,
            label=f"p99 bar ({100 * rec.target.p99_margin:.0f}% margin)",
        )
    for panel in (ax, ax2):
        if rec.workers is not None:
            panel.axvline(
                rec.workers, color="black", linewidth=1, label=f"recommended: {rec.workers}"
            )
        if rec.knee is not None and rec.knee.reached:
            panel.axvline(rec.knee.workers, color="gray", linestyle="-.", linewidth=1, label="knee")
        panel.grid(True, alpha=0.3)
        panel.legend(fontsize="small", loc="best")
    if hi > 10 * lo:
        ax.set_xscale("log")
    ax2.set_xlabel("workers")
    ax.set_ylabel("throughput (emails/s)")
    ax2.set_ylabel("p99 end to end (ms)")
    p99s = [p.measurement.p99_ms for p in target]
    if p99s and max(p99s) > 5 * rec.target.p99_ms:
        ax2.set_yscale("log")
    else:
        ax2.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Tuning for {rec.target.rate:g}/s with p99 < {rec.target.p99_ms:g} ms")
    return fig


def _range(lo: float, hi: float, count: int = 60) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]
