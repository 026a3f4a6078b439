"""The rich rendering of a gate comparison: a compact table, then why each non-pass."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from poolbench.gates.compare import Comparison, Verdict

_STYLES = {
    Verdict.PASS: "green",
    Verdict.REGRESSION: "bold red",
    Verdict.IMPROVEMENT: "cyan",
    Verdict.NOISE: "yellow",
}


def comparison_table(comparison: Comparison) -> Table:
    """Point, metric, baseline, current, change, verdict (fits 80 columns)."""
    status = "passed" if comparison.passed else "FAILED"
    table = Table(title=f"poolbench gate: {comparison.scenario_name} {status}")
    table.add_column("Point", overflow="fold")
    table.add_column("Metric", no_wrap=True)
    for name in ("Baseline", "Current", "Change"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    for point in comparison.points:
        for i, metric in enumerate(point.metrics):
            table.add_row(
                point.label if i == 0 else "",
                metric.label,
                metric.baseline_text(),
                metric.current_text(),
                metric.change_text(),
                Text(metric.verdict.value, style=_STYLES[metric.verdict]),
            )
        table.add_section()
    return table


def explanations(comparison: Comparison) -> list[Text]:
    """One line per metric that did not simply pass: what crossed, and how it was judged."""
    lines: list[Text] = []
    for point in comparison.points:
        for metric in point.metrics:
            if metric.verdict is Verdict.PASS:
                continue
            line = Text(f"{metric.verdict.value}: ", style=_STYLES[metric.verdict])
            line.append(f"{point.label}, {metric.label}: {metric.reason}; {metric.method}")
            lines.append(line)
    return lines
