"""`poolbench run SCENARIO`: measure every point of a scenario and write the results."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from poolbench.cli import exit_codes
from poolbench.cli.edge import print_error, remove_empty_run_folder, removed_if_empty
from poolbench.cli.signals import stop_on_signals

if TYPE_CHECKING:
    from collections.abc import Sequence

    from poolbench.results import PointResult
    from poolbench.run.sweep import RunEvent


def run(
    scenario_file: Annotated[
        Path,
        typer.Argument(
            help="The scenario YAML file (see `poolbench validate`), or the name of a "
            "shipped one: quick, low, medium, high, faults, ... (`poolbench init` writes "
            "them out)."
        ),
    ],
    *,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Results root: the run writes OUT/<scenario>/<UTC timestamp>/. Default: results/.",
        ),
    ] = Path("results"),
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress display; print only the results folder."),
    ] = False,
    json_lines: Annotated[
        bool,
        typer.Option(
            "--json-lines",
            help="Progress as one JSON object per line on stdout (for CI); no display.",
        ),
    ] = False,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            help="Use this Kafka cluster instead of the scenario's broker (default: the "
            "scenario's, usually the embedded one).",
        ),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(
            "--repeats", min=1, help="Run every point this many times (default: the scenario's)."
        ),
    ] = None,
) -> None:
    """Run a scenario: every point with its own topics, sink, consumer process and load.

    Writes results.json, results.csv, report.md, report.html and charts, then prints the
    folder.

    Exit 1 when a scenario gate fails (naming point, gate, measured value) or a part of
    the harness failed; 2 on bad input; 130 when stopped.

    Ctrl-C stops after this point's parts stop and keeps measured points; twice: at once.
    """
    from poolbench.cli.edge import writable_directory
    from poolbench.errors import RunError
    from poolbench.gates.absolute import evaluate_gates, with_verdicts
    from poolbench.gates.no_loss import check_accounting
    from poolbench.orphans import KILLED_NOTE, noted_if_killed
    from poolbench.report.writer import write_report
    from poolbench.results import save
    from poolbench.run.preflight import check_cluster
    from poolbench.run.sweep import run_scenario, with_overrides
    from poolbench.scenario import load_scenario

    scenario = with_overrides(
        load_scenario(scenario_file), bootstrap_servers=bootstrap_servers, repeats=repeats
    )
    evaluate_gates(scenario.gates, [])  # a malformed gate fails now, not after the run
    if scenario.broker.bootstrap_servers is not None:
        check_cluster(scenario.broker.bootstrap_servers)  # exit 2 before anything starts
    # The results folder is made and checked before any load: a run never measures for
    # minutes and then finds it cannot write.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = writable_directory(out / scenario.name / stamp, what="--out")
    display = _Display(quiet=quiet, json_lines=json_lines, gates=scenario.gates)
    package_log = logging.getLogger("poolbench")
    if package_log.getEffectiveLevel() == logging.INFO:
        # The progress display says what INFO logs would; keep warnings.
        package_log.setLevel(logging.WARNING)
    # First Ctrl-C/SIGTERM: finish cleanly (stop the load and the parts, keep the measured
    # points). A second Ctrl-C: KeyboardInterrupt, which still stops every child.
    with (
        stop_on_signals(
            message="\npoolbench: stopping after this point's parts stop...",
            second_interrupt_raises=True,
        ) as stop,
        display,
        removed_if_empty(directory, up_to=out),
        noted_if_killed(
            directory / KILLED_NOTE,
            f"poolbench run (pid {os.getpid()}) was killed "
            "during the run: the points it measured were not written",
        ),
    ):
        # Each point's consumer logs, settings and load report stay in the run's folder.
        outcome = run_scenario(
            scenario, on_event=display.event, stop=stop, workdir=directory / "points"
        )
    result_set = outcome.result_set
    if not result_set.points:
        remove_empty_run_folder(directory, up_to=out)  # nothing measured: no empty folder
        if outcome.error:
            raise RunError(outcome.error)
        typer.echo("poolbench: stopped before any point was measured", err=True)
        raise typer.Exit(exit_codes.INTERRUPTED)
    # Each point keeps its gates' verdicts, so results.json, the table and the reports
    # all say which gate failed where.
    report = evaluate_gates(scenario.gates, result_set.points)
    result_set = result_set.with_points(with_verdicts(result_set.points, report))
    save(result_set, directory)  # first: whatever fails next, the measurements are kept
    try:
        write_report(result_set, directory)
    except Exception as exc:
        logging.getLogger(__name__).exception("writing the report failed")
        print_error(f"the report could not be written ({exc!r}); the results are in {directory}")
        raise typer.Exit(exit_codes.CHECK_FAILED) from exc
    if not quiet and not json_lines:
        from poolbench.cli.show import show

        show(directory)
    if json_lines:
        # status: complete, partial (stopped early) or failed (a point measured nothing).
        _emit_json({"event": "written", "directory": str(directory), "status": result_set.status})
    else:
        typer.echo(str(directory))
    if outcome.error:
        # The points measured before the failure are written; the run still failed.
        print_error(f"PARTIAL run: {outcome.error}")
        raise typer.Exit(exit_codes.CHECK_FAILED)
    if outcome.interrupted:
        typer.echo(
            f"poolbench: PARTIAL run: stopped; {len(result_set.points)} point(s) written",
            err=True,
        )
        raise typer.Exit(exit_codes.INTERRUPTED)
    for verdict in report.failures:
        typer.echo(f"poolbench: {verdict.describe()}", err=True)
    # Losses, duplicates and failed points fail the run even without gates.
    accounting = check_accounting(result_set.points, scenario.allow)
    for text in accounting.allowed:
        typer.echo(f"poolbench: {text}", err=True)
    for text in accounting.failures:
        typer.echo(f"poolbench: {text}", err=True)
    if not report.passed or not accounting.passed:
        raise typer.Exit(exit_codes.CHECK_FAILED)


def _emit_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class _Display:
    """Rich progress per point, JSON lines, or nothing."""

    def __init__(self, *, quiet: bool, json_lines: bool, gates: Sequence[str] = ()) -> None:
        self.quiet = quiet
        self.json_lines = json_lines
        self.gates = tuple(gates)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Display:
        if not self.quiet and not self.json_lines:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.fields[number]}[/bold] {task.description}"),
                BarColumn(bar_width=20),
                TextColumn("{task.fields[status]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def event(self, event: RunEvent) -> None:
        if self.json_lines:
            self._json(event)
        elif self._progress is not None:
            self._rich(event)

    def _json(self, event: RunEvent) -> None:
        doc: dict[str, Any] = {
            "event": event.kind,
            "point": event.number,
            "of": event.total,
            "params": dict(event.point.params),
            "repeat": event.point.repeat,
        }
        if event.progress is not None:
            p = event.progress
            doc.update(
                phase=p.phase,
                elapsed_s=round(p.elapsed_s, 2),
                total_s=p.total_s,
                delivered=p.delivered,
                rate_per_s=round(p.rate_per_s, 1),
                p99_ms=_rounded(p.p99_ms, 1),
                rss_mb=_rounded(p.rss_mb, 1),
            )
        if event.result is not None:
            r = event.result
            doc.update(
                throughput_per_s=_rounded(r.throughput_per_s, 2),
                offered_per_s=_rounded(r.offered_per_s, 2),
                ideal_throughput_per_s=_rounded(r.ideal_throughput_per_s, 2),
                cpu_us_per_email=_rounded(r.cpu_us_per_email, 1),
                p99_ms=None if r.latency_ms is None else r.latency_ms.p99,
                service_p99_ms=None if r.service_ms is None else r.service_ms.p99,
                memory_peak_mb=None if r.memory_mb is None else round(r.memory_mb.peak, 1),
                harness_saturated=r.harness_saturated,
                lost=r.lost,
                error=r.error,
                gates_failed=self._failed_gates(r),
                warnings=list(r.warnings),
            )
        _emit_json(doc)

    def _rich(self, event: RunEvent) -> None:
        progress = self._progress
        number = f"{event.number}/{event.total}"
        if event.kind == "point_start":
            self._task = progress.add_task(
                _short_label(event),
                total=event.point.scenario.load.total_s,
                number=number,
                status="starting",
            )
            return
        if self._task is None:
            return
        if event.kind == "progress" and event.progress is not None:
            p = event.progress
            status = (
                f"{p.phase} {p.elapsed_s:4.0f}/{p.total_s:.0f}s  delivered {p.delivered}  "
                f"{p.rate_per_s:6.1f}/s  p99 {_text(p.p99_ms, 'ms')}  {_text(p.rss_mb, 'MB')}"
            )
            progress.update(self._task, completed=min(p.elapsed_s, p.total_s), status=status)
        elif event.kind == "point_done" and event.result is not None:
            r = event.result
            # The headline latency is the consumer's: its service time under a saturating
            # load (end to end is poolbench's own backlog there), else end to end.
            service = r.load_mode == "saturate" and r.service_ms is not None
            latency = r.service_ms if service else r.latency_ms
            status = (
                f"done: {_text(r.throughput_per_s, '/s')} "
                f"(ideal {_text(r.ideal_throughput_per_s, '/s')}), "
                f"{'service ' if service else ''}"
                f"p99 {_text(None if latency is None else latency.p99, 'ms')}, "
                f"{_text(None if r.memory_mb is None else r.memory_mb.peak, 'MB')}"
                + (f", LOST {r.lost}" if r.lost else "")
                + (", HARNESS SATURATED" if r.harness_saturated else "")
                + (", GATE FAILED" if self._failed_gates(r) else "")
                + (", FAILED" if r.error else "")
            )
            progress.update(self._task, completed=event.point.scenario.load.total_s, status=status)

    def _failed_gates(self, result: PointResult) -> list[str]:
        """The scenario gates this point fails (the same verdicts the run stores)."""
        from poolbench.gates.absolute import evaluate_gates

        return [v.gate for v in evaluate_gates(self.gates, [result]).failures]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _text(value: float | None, unit: str) -> str:
    """A figure for the terminal; "n/a" when it was not measured (never 0)."""
    return "n/a" if value is None else f"{value:.1f} {unit}"


def _short_label(event: RunEvent) -> str:
    """`workers=5 buffer=50` rather than `consumer.workers=5 consumer.buffer=50`."""
    params = event.point.params
    text = " ".join(f"{path.rsplit('.', 1)[-1]}={value}" for path, value in params.items())
    if event.point.scenario.repeats > 1:
        text += f" #{event.point.repeat + 1}"
    return text or event.point.scenario.name
