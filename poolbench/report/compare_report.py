"""What `poolbench compare` writes: compare.md, compare.json and a chart per metric.

The markdown is what `$GITHUB_STEP_SUMMARY` gets: the two sides, a table per point (A
and B medians, B's change with its interval, what it could see, p, verdict and why), the
loss and failures, and the charts. A verdict that did not fail the compare but is not a
plain pass (worse outside `--fail-on`, inconclusive) is named in the headline too.
Each chart (matplotlib, Agg canvas) shows one metric: both sides' repeats as
points per point of the scenario, the medians, and B's interval drawn around A's median.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from poolbench.compare.order import Run
from poolbench.compare.verdict import Outcome
from poolbench.gates.verdict import METRICS, Metric, MetricVerdict, Verdict

MARKDOWN_FILE: Final = "compare.md"
JSON_FILE: Final = "compare.json"
_COLORS: Final = {"A": "#1f77b4", "B": "#d62728"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SideInfo:
    name: str  # "A" / "B"
    label: str
    commit: str | None
    env: dict[str, str]
    machine_cpu_percent: float | None  # median over its repeats: the machine's load


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareFiles:
    markdown: Path
    json: Path
    charts: tuple[Path, ...]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _median(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else None


def _interval(m: MetricVerdict) -> str:
    if m.low is None or m.high is None:
        return "n/a"
    return f"[{_pct(m.low)}, {_pct(m.high)}]"


def _sees(m: MetricVerdict) -> str:
    return "n/a" if m.resolution is None else f"+-{100 * m.resolution:.1f}%"


def _verdict_cell(m: MetricVerdict, outcome: Outcome) -> str:
    if outcome.fails(m):
        return f"**{m.word}** (fails)"
    if m.verdict is Verdict.WITHIN:
        return m.word
    return f"**{m.word}**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _headline_caveats(outcome: Outcome) -> list[str]:
    """What a plain "passed" would hide: verdicts that are neither a pass nor a failure."""
    out = []
    for p in outcome.points:
        for m in p.metrics:
            if outcome.fails(m) or m.verdict in (Verdict.WITHIN, Verdict.BETTER):
                continue
            out.append(f"{p.label}: {m.metric.title} {m.word}")
    return out


def render_markdown(
    outcome: Outcome,
    sides: Sequence[SideInfo],
    *,
    scenario: str,
    repeats: int,
    elapsed_s: float | None = None,
    charts: Sequence[Path] = (),
    error: str | None = None,
) -> str:
    lines = [f"## poolbench compare: {scenario}", ""]
    status = "passed" if outcome.passed and error is None else "FAILED"
    caveats = _headline_caveats(outcome)
    if caveats and status == "passed":
        status += f", with {len(caveats)} verdict(s) that are not a pass"
    lines.append(
        f"**{status}** -- {repeats} repeat(s) per side, interleaved (ABBA/BAAB); "
        f"alpha {outcome.alpha:g}, --min-effect {100 * outcome.min_effect:g}%; "
        f"fails on: {', '.join(outcome.fail_on) or 'loss only'}"
        + (" and inconclusive" if outcome.fail_on_inconclusive else "")
        + ("" if elapsed_s is None else f"; {elapsed_s:.0f} s")
    )
    lines.append("")
    if caveats:
        lines += ["Not a pass, though they do not fail this compare:", ""]
        lines += [f"- {_cell(text)}" for text in caveats]
        lines.append("")
    for side in sides:
        env = " ".join(f"`{k}={v}`" for k, v in side.env.items())
        cpu = (
            ""
            if side.machine_cpu_percent is None
            else f", machine CPU {side.machine_cpu_percent:.0f}%"
        )
        lines.append(f"- **{side.name}**: `{side.label}`{' ' + env if env else ''}{cpu}")
    lines.append("")
    if error:
        lines += [f"**The compare did not finish**: {error}", ""]
    for warning in outcome.warnings:
        lines += [f"> {warning}", ""]
    for point in outcome.points:
        lines += [f"### {point.label}", ""]
        lines.append(
            "| metric | A (median) | B (median) | B vs A | interval | sees | p | verdict | why |"
        )
        lines.append("|---|---:|---:|---:|---|---:|---:|---|---|")
        for m in point.metrics:
            p = "n/a" if m.p_value is None else f"{m.p_value:.3g}"
            lines.append(
                f"| {m.metric.title} ({m.metric.unit}) | {_num(m.a_median)} | "
                f"{_num(m.b_median)} | {_pct(m.change)} | {_interval(m)} | {_sees(m)} | {p} | "
                f"{_verdict_cell(m, outcome)} | {_cell(m.detail)} |"
            )
        lines.append("")
        if point.problems:
            lines += ["**Loss, duplicates or failures (always fail):**", ""]
            lines += [f"- {text}" for text in point.problems]
            lines.append("")
    lines.append(
        "Intervals: Hodges-Lehmann shift of log(B) - log(A), exact distribution-free "
        "(Mann-Whitney inversion); p: exact two-sided Mann-Whitney U; sees: the interval's "
        "half-width, the smallest change this compare could show."
    )
    lines.append("")
    for chart in charts:
        lines += [f"![{chart.stem}]({chart.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def to_dict(
    outcome: Outcome,
    sides: Sequence[SideInfo],
    *,
    scenario: str,
    repeats: int,
    order: Sequence[Run],
    elapsed_s: float | None,
    error: str | None,
    interrupted: bool,
) -> dict[str, Any]:
    def finite(values: Sequence[float]) -> list[float | None]:
        return [v if math.isfinite(v) else None for v in values]

    return {
        "scenario": scenario,
        "repeats": repeats,
        "alpha": outcome.alpha,
        "min_effect": outcome.min_effect,
        "fail_on": list(outcome.fail_on),
        "fail_on_inconclusive": outcome.fail_on_inconclusive,
        "passed": outcome.passed and error is None and not interrupted,
        "elapsed_s": elapsed_s,
        "error": error,
        "interrupted": interrupted,
        "warnings": list(outcome.warnings),
        "sides": [
            {
                "name": s.name,
                "label": s.label,
                "commit": s.commit,
                "env": s.env,
                "machine_cpu_percent": s.machine_cpu_percent,
            }
            for s in sides
        ],
        "order": [f"{r.side}{r.point + 1}.{r.repeat + 1}" for r in order],
        "points": [
            {
                "label": p.label,
                "params": dict(p.params),
                "problems": list(p.problems),
                "metrics": {
                    m.metric.name: {
                        "a": finite(m.a),
                        "b": finite(m.b),
                        "change": m.change,
                        "low": m.low,
                        "high": m.high,
                        "confidence": m.confidence,
                        "resolution": m.resolution,
                        "min_effect": m.min_effect,
                        "tested": m.tested,
                        "fails": outcome.fails(m),
                        "p_value": m.p_value,
                        "verdict": str(m.verdict),
                        "word": m.word,
                        "detail": m.detail,
                    }
                    for m in p.metrics
                },
            }
            for p in outcome.points
        ],
    }


def metric_chart(outcome: Outcome, metric: Metric, path: Path) -> Path | None:
    """One metric: both sides' repeats as dots per point, medians, B's interval."""
    rows = [(p.label, p.by_metric(metric.name)) for p in outcome.points]
    if not any(_median(m.a) is not None or _median(m.b) is not None for _, m in rows):
        return None
    figure = Figure(figsize=(8.0, 1.6 + 1.1 * max(1, len(rows))), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    for i, (_label, m) in enumerate(rows):
        for side, values, offset in (("A", m.a, 0.15), ("B", m.b, -0.15)):
            finite = [v for v in values if math.isfinite(v)]
            if not finite:
                continue
            y = i + offset
            ax.scatter(
                finite,
                [y] * len(finite),
                color=_COLORS[side],
                alpha=0.7,
                s=28,
                label=side if i == 0 else None,
                zorder=3,
            )
            med = statistics.median(finite)
            ax.plot([med, med], [y - 0.1, y + 0.1], color=_COLORS[side], linewidth=2.5)
        a_med = _median(m.a)
        if a_med is not None and m.low is not None and m.high is not None:
            lo, hi = a_med * (1 + m.low), a_med * (1 + m.high)
            ax.plot([lo, hi], [i - 0.3, i - 0.3], color=_COLORS["B"], linewidth=1.5)
            ax.plot([lo, lo], [i - 0.36, i - 0.24], color=_COLORS["B"], linewidth=1.5)
            ax.plot([hi, hi], [i - 0.36, i - 0.24], color=_COLORS["B"], linewidth=1.5)
            ax.text(
                hi,
                i - 0.3,
                f"  {_pct(m.change)} {_interval(m)}: {m.word}",
                va="center",
                fontsize=8,
            )
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.title} ({metric.unit})")
    ax.set_title(
        f"{metric.title}: repeats of A and B; B's interval (around A's median)", fontsize=10
    )
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    figure.savefig(path, format="png")
    return path


def write_compare_report(
    outcome: Outcome,
    sides: Sequence[SideInfo],
    directory: Path,
    *,
    scenario: str,
    repeats: int,
    order: Sequence[Run],
    elapsed_s: float | None = None,
    error: str | None = None,
    interrupted: bool = False,
    charts: bool = True,
) -> CompareFiles:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if charts:
        for metric in METRICS:
            chart = metric_chart(outcome, metric, directory / f"compare-{metric.name}.png")
            if chart is not None:
                written.append(chart)
    markdown = directory / MARKDOWN_FILE
    markdown.write_text(
        render_markdown(
            outcome,
            sides,
            scenario=scenario,
            repeats=repeats,
            elapsed_s=elapsed_s,
            charts=written,
            error=error,
        )
    )
    doc = to_dict(
        outcome,
        sides,
        scenario=scenario,
        repeats=repeats,
        order=order,
        elapsed_s=elapsed_s,
        error=error,
        interrupted=interrupted,
    )
    json_file = directory / JSON_FILE
    json_file.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return CompareFiles(markdown=markdown, json=json_file, charts=tuple(written))
