"""`poolbench gate CURRENT --baseline BASELINE.json`: fail CI on a performance regression."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from poolbench.cli import exit_codes
from poolbench.cli.edge import writable_file

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def gate(
    *,
    current: Annotated[
        Path,
        typer.Argument(
            help="The run to check: a run directory (results/<scenario>/<timestamp>/), its "
            "results.json, or a scenario directory (results/<scenario>/: its latest run).",
            show_default=False,
        ),
    ],
    baseline: Annotated[
        Path,
        typer.Option(
            "--baseline",
            help="The baseline to compare with, e.g. results/baselines/quick.json "
            "(made by `poolbench baseline save`).",
            show_default=False,
        ),
    ],
    max_throughput_drop: Annotated[
        str,
        typer.Option(
            metavar="PERCENT",
            help="Largest allowed drop of throughput (emails/s), like 10% (the sign is "
            "required: a bare 0.1 is refused).",
        ),
    ] = "10%",
    max_p99_rise: Annotated[
        str,
        typer.Option(
            metavar="PERCENT",
            help="Largest allowed rise of the p99 end-to-end latency (ms), like 25%.",
        ),
    ] = "25%",
    max_memory_rise: Annotated[
        str,
        typer.Option(
            metavar="PERCENT",
            help="Largest allowed rise of the consumer's peak memory (MB), like 20%.",
        ),
    ] = "20%",
    min_effect: Annotated[
        list[str] | None,
        typer.Option(
            "--min-effect",
            metavar="METRIC=PERCENT",
            help="The threshold of any metric, by its results.json name (repeatable), e.g. "
            "cpu_us_per_email=15% or service_p99_ms=30%: the same thing as compare's "
            "--min-effect. It adds the metric to the gate, or replaces the --max-* value "
            "of throughput, p99_ms or memory_peak_mb.",
        ),
    ] = None,
    alpha: Annotated[
        float,
        typer.Option(
            help="Significance level of the exact Mann-Whitney test and its Hodges-Lehmann "
            "interval. With too few repeats for any test (1 against 1; 3 against 3 at "
            "0.05) the medians are held to the thresholds alone, and the output says so."
        ),
    ] = 0.05,
    fail_on_inconclusive: Annotated[
        bool,
        typer.Option(
            "--fail-on-inconclusive",
            help="Also fail (exit 1) when a verdict is inconclusive: the interval holds "
            "zero but is wider than the threshold, so a change that matters could hide.",
        ),
    ] = False,
    allow_scenario_change: Annotated[
        bool,
        typer.Option(
            "--allow-scenario-change",
            help="Compare even though the scenario's hash differs from the baseline's.",
        ),
    ] = False,
    allow_env_change: Annotated[
        bool,
        typer.Option(
            "--allow-env-change",
            help="Compare even though OS/architecture, CPU model or count, Python or library "
            "versions differ.",
        ),
    ] = False,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Also write the comparison as markdown to this file (it is always appended "
            f"to ${SUMMARY_ENV} when that is set).",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write the verdicts as JUnit XML to this file: one test case per "
            "point and metric.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compare a run with a baseline point by point; exit 0 pass, 1 regression, 2 bad input.

    Per metric, B's change against the baseline with its interval: worse, better, within
    the threshold, or inconclusive. Lost or duplicated emails beyond the baseline's
    always fail.
    """
    from rich.console import Console

    from poolbench.cli.gate_view import comparison_table, explanations
    from poolbench.errors import ConfigError
    from poolbench.gates.baseline import load_input
    from poolbench.gates.compare import Limits, compare, parse_percent
    from poolbench.gates.markdown import to_markdown
    from poolbench.report.junit import gate_cases, render

    # Every flag is checked here, so that an error names the flag, not a field.
    drop = parse_percent(max_throughput_drop, what="--max-throughput-drop", below=100)
    p99_rise = parse_percent(max_p99_rise, what="--max-p99-rise")
    memory_rise = parse_percent(max_memory_rise, what="--max-memory-rise")
    if not 0 < alpha < 1:
        raise ConfigError("must lie between 0 and 1", where="--alpha", got=alpha)
    effects = {
        "throughput": drop / 100,
        "p99_ms": p99_rise / 100,
        "memory_peak_mb": memory_rise / 100,
        **_min_effects(min_effect or []),
    }
    limits = Limits(
        min_effect=effects,
        alpha=alpha,
        fail_on_inconclusive=fail_on_inconclusive,
    )
    for path, flag in ((markdown, "--markdown"), (junit, "--junit")):
        if path is not None:
            writable_file(path, what=flag)  # checked before the comparison's work
    comparison = compare(
        load_input(baseline, role="baseline"),
        load_input(current, role="current results"),
        limits=limits,
        allow_scenario_change=allow_scenario_change,
        allow_env_change=allow_env_change,
    )
    console = Console()
    console.print(comparison_table(comparison))
    for line in explanations(comparison):
        console.print(line)
    for note in comparison.notes:
        console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    for label in comparison.only_in_baseline:
        console.print(f"not in the current results: {label}", markup=False, highlight=False)
    for label in comparison.only_in_current:
        console.print(f"not in the baseline: {label}", markup=False, highlight=False)
    text = to_markdown(comparison)
    if markdown is not None:
        markdown.write_text(text)
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        with Path(summary).open("a") as out:
            out.write(text + "\n")
    if junit is not None:
        junit.write_text(
            render(f"poolbench gate {comparison.scenario_name}", gate_cases(comparison))
        )
    if comparison.passed:
        console.print(f"gate passed: {len(comparison.points)} point(s) compared", style="green")
        return
    failed = f"{len(comparison.regressions)} regression(s)"
    if comparison.limits.fail_on_inconclusive and comparison.inconclusive:
        failed += f", {len(comparison.inconclusive)} inconclusive (--fail-on-inconclusive)"
    console.print(f"gate FAILED: {failed}", style="bold red")
    raise typer.Exit(exit_codes.CHECK_FAILED)


def _min_effects(items: list[str]) -> dict[str, float]:
    """`--min-effect METRIC=PERCENT` items, by the metric's results.json name."""
    from poolbench.errors import ConfigError
    from poolbench.gates.compare import parse_percent
    from poolbench.gates.verdict import METRIC_NAMES, metric_named

    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        metric = metric_named(name.strip())
        if not sep or metric is None:
            raise ConfigError(
                f"--min-effect: expected METRIC=PERCENT with METRIC one of "
                f"{', '.join(METRIC_NAMES)}, got {item!r}"
            )
        below = 100 if metric.higher_is_better else None  # a drop of 100% is no rate at all
        out[metric.name] = parse_percent(value, what="--min-effect", below=below) / 100
    return out
