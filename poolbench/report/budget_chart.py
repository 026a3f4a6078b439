"""The time budget chart: a stacked bar per point, where the mean email's time went."""

from __future__ import annotations

from typing import Final

from matplotlib.figure import Figure

from poolbench.report.canvas import chart_title, new_figure, setting_name
from poolbench.results import ResultSet

_BUDGET_PARTS: Final = (
    ("connect_ms", "connect (client: render, TCP connect)"),
    ("handshake_ms", "handshake (greeting, EHLO)"),
    ("client_ms", "client think time"),
    ("server_latency_ms", "sink latency (configured)"),
    ("server_ms", "sink processing"),
    ("after_ms", "worker time after the reply (QUIT, close, next job)"),
)


def budget_figure(result_set: ResultSet) -> Figure | None:
    """A stacked bar per point: where the mean email's time went."""
    points = [(i, p) for i, p in enumerate(result_set.points) if p.budget_ms is not None]
    if not points:
        return None
    figure, (ax,) = new_figure()
    labels = [
        " ".join(f"{setting_name(k)}={v}" for k, v in p.params.items()) or f"point {i + 1}"
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
    # Beside the plot, never over a bar (inside, it covered the first one).
    figure.legend(fontsize="small", loc="outside right upper")
    ax.grid(True, axis="y", alpha=0.3)
    figure.suptitle(chart_title(result_set, "Where each email's time goes"))
    return figure


_PRIORITY_COLORS: Final = {"high": "tab:red", "normal": "tab:blue", "low": "tab:grey"}
