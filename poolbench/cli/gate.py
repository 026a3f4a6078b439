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
    alpha: Annotated[
        float,
        typer.Option(
            help="Significance level: with 2+ repeats on both sides a change beyond a "
            "threshold counts only if a test over the repeats agrees (Mann-Whitney U, or a "
            "bootstrap interval of the median difference when there are too few repeats)."
        ),
    ] = 0.05,
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
    seed: Annotated[
        int, typer.Option(help="Seed of the bootstrap resampling, for reproducible verdicts.")
    ] = 0,
) -> None:
    """Compare a run with a baseline point by point; exit 0 pass, 1 regression, 2 bad input.

    Throughput, p99 latency and peak memory may move within the thresholds; lost or
    duplicated emails beyond the baseline's always fail.
    """
    from rich.console import Console

    from poolbench.cli.gate_view import comparison_table, explanations
    from poolbench.errors import ConfigError
    from poolbench.gates.baseline import load_input
    from poolbench.gates.compare import Thresholds, compare, parse_percent
    from poolbench.gates.markdown import to_markdown

    # Every flag is checked here, so that an error names the flag, not a field.
    drop = parse_percent(max_throughput_drop, what="--max-throughput-drop", below=100)
    p99_rise = parse_percent(max_p99_rise, what="--max-p99-rise")
    memory_rise = parse_percent(max_memory_rise, what="--max-memory-rise")
    if not 0 < alpha < 1:
        raise ConfigError("must lie between 0 and 1", where="--alpha", got=alpha)
    thresholds = Thresholds(
        max_throughput_drop_pct=drop,
        max_p99_rise_pct=p99_rise,
        max_memory_rise_pct=memory_rise,
        alpha=alpha,
    )
    if markdown is not None:
        writable_file(markdown, what="--markdown")  # checked before the comparison's work
    comparison = compare(
        load_input(baseline, role="baseline"),
        load_input(current, role="current results"),
        thresholds=thresholds,
        allow_scenario_change=allow_scenario_change,
        allow_env_change=allow_env_change,
        seed=seed,
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
    if comparison.passed:
        console.print(f"gate passed: {len(comparison.points)} point(s) compared", style="green")
        return
    console.print(f"gate FAILED: {len(comparison.regressions)} regression(s)", style="bold red")
    raise typer.Exit(exit_codes.CHECK_FAILED)
