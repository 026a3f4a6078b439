"""A Comparison as GitHub-flavoured markdown (for `$GITHUB_STEP_SUMMARY` and `--markdown`).

Pure: builds a string. One row per point and metric (with what the verdict could see and
why), one per count, then notes and unmatched points.
"""

from __future__ import annotations

from poolbench.gates.compare import FLAGS, Comparison, change_text, seen_text, value_text
from poolbench.gates.verdict import Verdict
from poolbench.results.environment import NO_COMMIT


def _cell(text: str) -> str:
    """Pipes and newlines would break the table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _commit(commit: str | None) -> str:
    # No commit: the run was not made in a git checkout (a pip or pipx install).
    return f"`{commit[:12]}`" if commit else f"commit {NO_COMMIT}"


def _mark(comparison: Comparison, verdict: Verdict, word: str) -> str:
    if comparison.fails(verdict):
        return f"**{word.upper()}**"
    return word


def to_markdown(comparison: Comparison) -> str:
    """The whole gate result: a headline, the table, and what a reader must know."""
    limits = comparison.limits
    regressions = len(comparison.regressions)
    if comparison.passed:
        status = "PASSED"
    elif regressions:
        status = f"FAILED ({regressions} regression(s))"
    else:
        status = f"FAILED ({len(comparison.inconclusive)} inconclusive, --fail-on-inconclusive)"
    effects = ", ".join(
        f"{FLAGS.get(name, name)} {100 * value:g}%" for name, value in limits.min_effect.items()
    )
    lines = [
        f"## poolbench gate: {_cell(comparison.scenario_name)} {status}",
        "",
        f"Baseline {_commit(comparison.baseline_commit)}, current "
        f"{_commit(comparison.current_commit)}. Min effects: {effects}; significance "
        f"level {limits.alpha:g}; lost and duplicated emails beyond the baseline's always "
        "fail.",
        "",
        "| Point | Repeats | Metric | Baseline | Current | Change | Sees | Verdict | Why |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for point in comparison.points:
        repeats = f"{point.baseline_repeats} / {point.current_repeats}"
        rows = [
            (
                m.metric.title,
                value_text(m.a_median, m.metric.unit),
                value_text(m.b_median, m.metric.unit),
                change_text(m),
                seen_text(m),
                _mark(comparison, m.verdict, m.word),
                m.detail,
            )
            for m in point.metrics
        ]
        rows += [
            (
                c.title,
                str(c.baseline),
                str(c.current),
                f"{c.current - c.baseline:+d}",
                "exact",
                _mark(comparison, c.verdict, "worse" if c.verdict is Verdict.WORSE else "ok"),
                c.detail,
            )
            for c in point.counts
        ]
        for row in rows:
            lines.append("| " + " | ".join(_cell(t) for t in (point.label, repeats, *row)) + " |")
    extra: list[str] = list(comparison.notes)
    if comparison.only_in_baseline:
        extra.append("not in the current results: " + "; ".join(comparison.only_in_baseline))
    if comparison.only_in_current:
        extra.append("not in the baseline (not compared): " + "; ".join(comparison.only_in_current))
    if extra:
        lines += ["", *(f"- {_cell(note)}" for note in extra)]
    return "\n".join(lines) + "\n"
