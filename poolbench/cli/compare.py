"""`poolbench compare SCENARIO --a SPEC --b SPEC`: an interleaved A/B on one machine."""

from __future__ import annotations

import datetime as dt
import logging
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from poolbench.cli import exit_codes
from poolbench.cli.signals import stop_on_signals

if TYPE_CHECKING:
    from poolbench.compare.session import CompareEvent, CompareOutcome
    from poolbench.compare.verdict import Outcome
    from poolbench.report.compare_report import SideInfo

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
# Defaults from the calibration in the README ("Calibration on this machine"): 4 repeats
# per side of scenarios/compare.yaml take under 2 minutes on the 2-core machine; at alpha
# 0.05 the interval then excludes zero only when every B lies on one side of every A
# (97.1% coverage). On the quiet machine a throughput run varies by about 1%, so a 5%
# min effect catches a 5% drop and no A = A compare read "worse"; at 10% a 5% drop reads
# "within +-10%" by design. (The baseline gate keeps 10%: its A is another day's run.)
DEFAULT_REPEATS = 4
DEFAULT_ALPHA = 0.05
DEFAULT_MIN_EFFECT = "5%"
DEFAULT_FAIL_ON = "throughput"


def compare(
    scenario_file: Annotated[
        Path, typer.Argument(help="The scenario YAML file; every point is compared.")
    ],
    *,
    a: Annotated[
        str,
        typer.Option(
            "--a",
            help="Side A (the reference): a git ref of this repository (HEAD~1, main, a "
            "commit), a path to a checkout, or command:CMD for a foreign consumer.",
            show_default=False,
        ),
    ],
    b: Annotated[
        str,
        typer.Option(
            "--b", help="Side B (the candidate), in the same forms as --a.", show_default=False
        ),
    ],
    repeats: Annotated[
        int, typer.Option("--repeats", min=2, help="Runs per side of every point.")
    ] = DEFAULT_REPEATS,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha",
            min=0.0001,
            max=0.5,
            help="Significance level: the interval of B's change has coverage >= 1 - alpha.",
        ),
    ] = DEFAULT_ALPHA,
    min_effect: Annotated[
        str,
        typer.Option(
            "--min-effect",
            help="The smallest change that matters (the gate's thresholds are the same "
            "thing): an interval inside +-it is 'no change beyond +-X%'; one that excludes "
            "zero and reaches past it, a change; one that holds zero and reaches past it, "
            "inconclusive.",
        ),
    ] = DEFAULT_MIN_EFFECT,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Comma-separated metrics whose 'worse' verdict fails (exit 1), by their "
            "results.json names: throughput, p99_ms, service_p99_ms, memory_peak_mb, "
            "cpu_us_per_email (or the older p99, service_p99, memory, cpu_per_email), or "
            "'none'. Loss, duplicates and failed runs always fail.",
        ),
    ] = DEFAULT_FAIL_ON,
    fail_on_inconclusive: Annotated[
        bool,
        typer.Option(
            "--fail-on-inconclusive",
            help="Also fail (exit 1) when a metric in --fail-on is inconclusive: its "
            "interval holds zero but is wider than --min-effect.",
        ),
    ] = False,
    a_env: Annotated[
        list[str] | None,
        typer.Option(
            "--a-env",
            help="NAME=VALUE added to side A's consumer.env (repeatable), e.g. "
            "POOLBENCH_DEBUG_DELAY=2ms.",
        ),
    ] = None,
    b_env: Annotated[
        list[str] | None,
        typer.Option("--b-env", help="NAME=VALUE added to side B's consumer.env (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the ABBA/BAAB order.")] = 0,
    out: Annotated[
        Path,
        typer.Option("--out", help="Results root: writes OUT/compare/<scenario>/<UTC stamp>/."),
    ] = Path("results"),
    repo: Annotated[
        Path, typer.Option("--repo", help="The git repository a git ref SPEC is taken from.")
    ] = Path("."),
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Where git refs are exported and installed (default: ~/.cache/poolbench/compare).",
            show_default=False,
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help=f"Also write the report's markdown here (it is always appended to "
            f"${SUMMARY_ENV} when that is set).",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write the verdicts as JUnit XML here: one test case per point and "
            "metric, plus one per point for loss, duplicates and failed runs.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the result folder.")] = False,
) -> None:
    """Compare two consumers on one machine: every point as A B B A ..., --repeats per side.

    Both sides get the same broker, sink and load; they differ only in the consumer.
    Per point and metric: B's change with its exact Hodges-Lehmann interval, a
    Mann-Whitney p, what the compare could see, and a verdict: faster/slower (less/more),
    no change beyond +-min-effect, or inconclusive. Writes a/ and b/ results.json,
    compare.md, compare.json and charts.

    Exit 0 when nothing in --fail-on got worse and nothing was lost or duplicated, 1 when
    something did (or a run failed), 2 on bad input (--repeats too few to ever reach
    --alpha included, before any run), 130 when stopped.
    """
    from poolbench.cli.edge import print_error, writable_directory, writable_file
    from poolbench.compare.install import default_cache, install_side
    from poolbench.compare.session import CompareOptions, run_compare
    from poolbench.compare.spec import parse_env, parse_spec
    from poolbench.errors import ConfigError
    from poolbench.gates.compare import parse_percent
    from poolbench.gates.stats import min_repeats, reachable
    from poolbench.gates.verdict import METRIC_NAMES, metric_named
    from poolbench.report.compare_report import write_compare_report
    from poolbench.report.junit import compare_cases, render
    from poolbench.results import save
    from poolbench.scenario import load_scenario

    if not reachable(repeats, repeats, alpha):
        raise ConfigError(
            f"--repeats {repeats}: needs at least {min_repeats(alpha)} repeats per side: "
            f"{repeats} against {repeats} can never reach --alpha {alpha:g}"
        )
    effect = parse_percent(min_effect) / 100
    if not 0 <= effect < 1:
        raise ConfigError(f"--min-effect must lie in [0%, 100%), got {min_effect}")
    names = [m.strip() for m in fail_on.split(",") if m.strip() and m.strip() != "none"]
    bad = [m for m in names if metric_named(m) is None]
    if bad:
        raise ConfigError(
            f"--fail-on: unknown metric(s) {', '.join(bad)}; known: {', '.join(METRIC_NAMES)}"
        )
    fail = tuple(dict.fromkeys(found.name for n in names if (found := metric_named(n))))
    if junit is not None:
        writable_file(junit, what="--junit")
    scenario = load_scenario(scenario_file)
    specs = (parse_spec(a, what="--a"), parse_spec(b, what="--b"))
    envs = (parse_env(a_env or [], what="--a-env"), parse_env(b_env or [], what="--b-env"))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out / "compare" / scenario.name / stamp
    created = [p for p in (target, *target.parents) if not p.exists()]
    directory = writable_directory(target, what="--out")
    repo_dir = repo.resolve()
    cache_dir = cache or default_cache()
    try:
        sides = (
            install_side("A", specs[0], repo=repo_dir, cache=cache_dir, env=envs[0]),
            install_side("B", specs[1], repo=repo_dir, cache=cache_dir, env=envs[1]),
        )
    except BaseException:
        _remove_empty(created)  # nothing was measured: leave no empty stamp folder
        raise
    options = CompareOptions(
        repeats=repeats,
        alpha=alpha,
        min_effect=effect,
        fail_on=fail,
        fail_on_inconclusive=fail_on_inconclusive,
        seed=seed,
    )
    package_log = logging.getLogger("poolbench")
    if package_log.getEffectiveLevel() == logging.INFO:
        package_log.setLevel(logging.WARNING)
    if not quiet:
        for side in sides:
            env = " ".join(f"{k}={v}" for k, v in side.env.items())
            typer.echo(f"{side.name}: {side.label}{' ' + env if env else ''}", err=True)
    with stop_on_signals(
        message="\npoolbench: stopping after this run's parts stop...",
        second_interrupt_raises=True,
    ) as stop:
        result = run_compare(
            scenario,
            sides,
            options,
            workdir=directory / "points",
            repo=repo_dir,
            on_event=None if quiet else _print_event,
            stop=stop,
        )
    save(result.a, directory / "a")
    save(result.b, directory / "b")
    infos = _side_infos(result)
    files = write_compare_report(
        result.outcome,
        infos,
        directory,
        scenario=scenario.name,
        repeats=repeats,
        order=result.order,
        elapsed_s=result.elapsed_s,
        error=result.error,
        interrupted=result.interrupted,
    )
    if junit is not None:
        cases = compare_cases(result.outcome, error=result.error)
        junit.write_text(render(f"poolbench compare {scenario.name}", cases))
    text = files.markdown.read_text()
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text)
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        with Path(summary).open("a") as handle:
            handle.write(text + "\n")
    if not quiet:
        _print_verdicts(result.outcome)
    typer.echo(str(directory))
    if result.interrupted:
        typer.echo("poolbench: compare stopped; what was measured is written", err=True)
        raise typer.Exit(exit_codes.INTERRUPTED)
    if result.error:
        print_error(result.error)
        raise typer.Exit(exit_codes.CHECK_FAILED)
    for problem in result.outcome.problems:
        typer.echo(f"poolbench: {problem}", err=True)
    for point, m in result.outcome.regressions:
        typer.echo(
            f"poolbench: {point.label}: {m.metric.title} {m.word}: B {_change(m.change)} "
            f"({m.detail})",
            err=True,
        )
    if result.outcome.fail_on_inconclusive:
        for point, m in result.outcome.inconclusive:
            typer.echo(
                f"poolbench: {point.label}: {m.metric.title} inconclusive "
                f"(--fail-on-inconclusive): {m.detail}",
                err=True,
            )
    if not result.outcome.passed:
        raise typer.Exit(exit_codes.CHECK_FAILED)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this compare created (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _change(change: float | None) -> str:
    return "n/a" if change is None else f"{100 * change:+.1f}%"


def _side_infos(result: CompareOutcome) -> list[SideInfo]:
    from poolbench.report.compare_report import SideInfo

    infos = []
    for side, rs in zip(result.sides, (result.a, result.b), strict=True):
        machine = [p.cpu_by_part["machine"] for p in rs.points if "machine" in p.cpu_by_part]
        infos.append(
            SideInfo(
                name=side.name,
                label=side.label,
                commit=side.commit,
                env=dict(side.env),
                machine_cpu_percent=statistics.median(machine) if machine else None,
            )
        )
    return infos


def _print_event(event: CompareEvent) -> None:
    if event.kind != "run_done" or event.result is None:
        return
    r = event.result
    rate = "n/a" if r.throughput_per_s is None else f"{r.throughput_per_s:.1f}/s"
    p99 = "n/a" if r.latency_ms is None else f"{r.latency_ms.p99:.0f} ms"
    lost = f", LOST {r.lost}" if r.lost else ""
    typer.echo(
        f"[{event.number}/{event.total}] {event.run.side} {event.label} "
        f"(repeat {event.run.repeat + 1}): {rate}, p99 {p99}{lost}",
        err=True,
    )


def _print_verdicts(outcome: Outcome) -> None:
    """Every metric's verdict with its reason and what it could see, then the notes."""
    for point in outcome.points:
        for m in point.metrics:
            sees = "" if m.resolution is None else f"; could see +-{100 * m.resolution:.1f}%"
            typer.echo(
                f"{point.label}: {m.metric.title}: B {_change(m.change)}: {m.word} "
                f"({m.detail}{sees})",
                err=True,
            )
    for warning in outcome.warnings:
        typer.echo(f"note: {warning}", err=True)
