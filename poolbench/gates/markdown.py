"""A Comparison as GitHub-flavoured markdown (for `$GITHUB_STEP_SUMMARY` and `--markdown`).

Pure: builds a string. One row per point and metric, then notes and unmatched points.
"""

from __future__ import annotations

from poolbench.gates.compare import Comparison, Verdict

_MARKS = {
    Verdict.PASS: "pass",
    Verdict.REGRESSION: "**REGRESSION**",
    Verdict.IMPROVEMENT: "improvement",
    Verdict.NOISE: "noise",
}


def _cell(text: str) -> str:
    """Pipes and newlines would break the table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _commit(commit: str | None) -> str:
    return f"`{commit[:12]}`" if commit else "unknown commit"


def to_markdown(comparison: Comparison) -> str:
    """The whole gate result: a headline, the table, and what a reader must know."""
    t = comparison.thresholds
    regressions = len(comparison.regressions)
    status = "PASSED" if comparison.passed else f"FAILED ({regressions} regression(s))"
    lines = [
        f"## poolbench gate: {_cell(comparison.scenario_name)} {status}",
        "",
        f"Baseline {_commit(comparison.baseline_commit)}, current "
        f"{_commit(comparison.current_commit)}. Limits: throughput drop "
        f"{t.max_throughput_drop_pct:g}%, p99 rise {t.max_p99_rise_pct:g}%, memory rise "
        f"{t.max_memory_rise_pct:g}%, significance level {t.alpha:g}; lost and duplicated "
        "emails beyond the baseline's always fail.",
        "",
        "| Point | Repeats | Metric | Baseline | Current | Change | Verdict | Why |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for point in comparison.points:
        repeats = f"{point.baseline_repeats} / {point.current_repeats}"
        for metric in point.metrics:
            # How a verdict was reached matters only where the thresholds were crossed.
            plain = metric.verdict is Verdict.PASS or metric.method in ("-", "none")
            why = metric.reason if plain else f"{metric.reason}; {metric.method}"
            lines.append(
                "| "
                + " | ".join(
                    _cell(text)
                    for text in (
                        point.label,
                        repeats,
                        metric.label,
                        metric.baseline_text(),
                        metric.current_text(),
                        metric.change_text(),
                        _MARKS[metric.verdict],
                        why,
                    )
                )
                + " |"
            )
    extra: list[str] = list(comparison.notes)
    if comparison.only_in_baseline:
        extra.append("not in the current results: " + "; ".join(comparison.only_in_baseline))
    if comparison.only_in_current:
        extra.append("not in the baseline (not compared): " + "; ".join(comparison.only_in_current))
    if extra:
        lines += ["", *(f"- {_cell(note)}" for note in extra)]
    return "\n".join(lines) + "\n"
