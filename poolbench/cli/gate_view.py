"""The rich rendering of a gate comparison: a compact table per point, then why each verdict.

Each point is a table of its own, titled with its label, so an 80-column terminal never
folds a label in the middle (`consumer.workers=10 ,` was how it read).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from poolbench.gates.compare import Comparison, change_text, seen_text, value_text
from poolbench.gates.verdict import MetricVerdict, Verdict

_STYLES = {
    Verdict.WITHIN: "green",
    Verdict.WORSE: "bold red",
    Verdict.BETTER: "cyan",
    Verdict.INCONCLUSIVE: "yellow",
}


def _short(m: MetricVerdict) -> str:
    if m.verdict is Verdict.WITHIN:
        return f"within +-{100 * m.min_effect:g}%"
    return m.word


def _word(comparison: Comparison, verdict: Verdict, word: str) -> Text:
    text = word.upper() if comparison.fails(verdict) else word
    return Text(text, style=_STYLES[verdict])


def comparison_table(comparison: Comparison) -> Group:
    """A headline, then per point: metric, baseline, current, change, what the verdict
    could see, and the verdict."""
    status = "passed" if comparison.passed else "FAILED"
    tables: list[Text | Table] = [
        Text(f"poolbench gate: {comparison.scenario_name} {status}", style="bold")
    ]
    for point in comparison.points:
        table = Table(title=point.label, title_justify="left")
        table.add_column("Metric", no_wrap=True)
        for name in ("Baseline", "Current", "Change", "Sees"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("Verdict", no_wrap=True)
        for m in point.metrics:
            table.add_row(
                m.metric.title,
                value_text(m.a_median, m.metric.unit),
                value_text(m.b_median, m.metric.unit),
                change_text(m),
                seen_text(m),
                _word(comparison, m.verdict, _short(m)),
            )
        for c in point.counts:
            table.add_row(
                c.title,
                str(c.baseline),
                str(c.current),
                f"{c.current - c.baseline:+d}",
                "exact",
                _word(comparison, c.verdict, "worse" if c.verdict is Verdict.WORSE else "ok"),
            )
        tables.append(table)
    return Group(*tables)


def explanations(comparison: Comparison) -> list[Text]:
    """One line per metric that is not plainly within its threshold: its verdict and how
    it was reached (the table's Sees column and the notes cover the others)."""
    lines: list[Text] = []
    for point in comparison.points:
        for m in point.metrics:
            if m.verdict is Verdict.WITHIN:
                continue
            line = Text(f"{m.verdict.value}: ", style=_STYLES[m.verdict])
            line.append(f"{point.label}, {m.metric.title}: {m.detail}")
            lines.append(line)
        for c in point.counts:
            if c.verdict is Verdict.WORSE:
                line = Text("worse: ", style=_STYLES[c.verdict])
                line.append(f"{point.label}, {c.title}: {c.current} ({c.detail})")
                lines.append(line)
    return lines
