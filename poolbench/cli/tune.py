"""`poolbench tune`: the smallest pool meeting a rate and a p99 target, measured."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Final

import typer

from poolbench.cli import exit_codes
from poolbench.cli.edge import print_error
from poolbench.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from poolbench.scenario import Scenario
    from poolbench.tune.advice import Recommendation
    from poolbench.tune.probes import SearchLimits, Target
    from poolbench.tune.session import TuneOutcome

# Piped output: wide enough that no verdict or table row is broken.
_PIPED_WIDTH: Final = 400


def tune(
    *,
    rate: Annotated[
        str, typer.Option("--rate", metavar="RATE", help="Target rate to sustain, e.g. 300/s.")
    ],
    p99: Annotated[
        str,
        typer.Option(
            "--p99", metavar="DURATION", help="End-to-end p99 latency not to exceed, e.g. 500ms."
        ),
    ],
    p99_margin: Annotated[
        str,
        typer.Option(
            "--p99-margin",
            metavar="PERCENT",
            help="Share by which a point must beat --p99 (20%: 500ms needs <= 400ms measured); "
            "a setting that only just passes fails about every other re-run.",
        ),
    ] = "20%",
    headroom: Annotated[
        str,
        typer.Option(
            "--headroom",
            metavar="PERCENT",
            help="Spare capacity the recommended setting must show: its measured ceiling at "
            "least this much above --rate.",
        ),
    ] = "20%",
    sink_latency: Annotated[
        str,
        typer.Option(
            "--sink-latency",
            metavar="DURATION",
            help="SMTP latency of the embedded sink, e.g. 100ms (ignored with --scenario).",
        ),
    ] = "100ms",
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="A scenario file fixing broker, sink, consumer settings and load; tune "
            "overrides consumer.workers, consumer.buffer and load.rate, and ignores its sweep.",
        ),
    ] = None,
    max_workers: Annotated[
        int, typer.Option("--max-workers", min=1, help="Largest worker count to try.")
    ] = 2000,
    max_points: Annotated[
        int, typer.Option("--max-points", min=1, help="Most measured points in all.")
    ] = 12,
    max_time: Annotated[
        str,
        typer.Option(
            "--max-time",
            metavar="DURATION",
            help="Time budget; no point starts that would overrun it.",
        ),
    ] = "10m",
    duration: Annotated[
        str,
        typer.Option(
            "--duration", metavar="DURATION", help="Measured window per point (without --scenario)."
        ),
    ] = "10s",
    warmup: Annotated[
        str,
        typer.Option(
            "--warmup", metavar="DURATION", help="Warm-up per point (without --scenario)."
        ),
    ] = "3s",
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Results root; writes OUT/tune/<UTC timestamp>/."),
    ] = Path("results"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the folder written.")] = False,
) -> None:
    """Search measured points for the smallest workers/buffer meeting --rate and --p99 with
    --headroom to spare.

    Then: the ceiling at that setting, the knee, Little's law and USL fits.

    Writes tune.md, tune.json, tune.png and results.json under --out.

    Exit 0 with a recommendation that has the headroom; 1 without (no setting met the
    target, or none had the headroom); 2 on bad input or an impossible target (checked
    before anything runs); 130 on Ctrl-C (what was measured is written).
    """
    from poolbench.cli.edge import flag, writable_directory
    from poolbench.scenario import load_scenario
    from poolbench.tune.measured import base_scenario, latency_hint_s
    from poolbench.tune.probes import Probe, SearchLimits, StopReason, Target, impossible
    from poolbench.tune.session import tune as run_tune
    from poolbench.tune.writeup import stop_line
    from poolbench.units import parse_duration, parse_percent, parse_rate

    margin = parse_percent(p99_margin, what="--p99-margin", below=100)
    spare = parse_percent(headroom, what="--headroom")
    target = Target(
        rate=parse_rate(rate, what="--rate"),
        p99_ms=1000 * parse_duration(p99, what="--p99"),
        p99_margin=margin / 100,
        headroom=spare / 100,
    )
    if target.p99_ms <= 0:
        raise ConfigError("must be positive", where="--p99", got=p99)
    limits = SearchLimits(
        max_workers=max_workers,
        max_points=max_points,
        max_time_s=parse_duration(max_time, what="--max-time"),
    )
    if scenario is not None:
        base = load_scenario(scenario)
    else:
        with flag("--sink-latency"):
            from poolbench.sink.latency import parse_latency

            parse_latency(sink_latency, what="--sink-latency")
        base = base_scenario(
            rate=target.rate,
            sink_latency=sink_latency,
            duration_s=parse_duration(duration, what="--duration"),
            warmup_s=parse_duration(warmup, what="--warmup"),
        )
    # Everything is checked before the first point: the cluster, the target, the folder.
    if base.broker.bootstrap_servers is not None:
        from poolbench.run.preflight import check_cluster

        check_cluster(base.broker.bootstrap_servers)
    problem = impossible(
        target, send_s=latency_hint_s(base.sink.latency), max_workers=limits.max_workers
    )
    if problem is not None:
        raise problem.at({"p99": "--p99", "max_workers": "--max-workers"}[problem.what])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = writable_directory(out / "tune" / stamp, what="--out")
    console = _console(stderr=True, quiet=quiet)
    package_log = logging.getLogger("poolbench")
    if package_log.getEffectiveLevel() == logging.INFO:
        # The lines per point say what INFO logs would; keep warnings.
        package_log.setLevel(logging.WARNING)

    console.print(start_line(base, target, limits), markup=False)

    def on_probe(p: Probe) -> None:
        m = p.measurement
        verdict = "ok" if p.meets else ("; ".join(p.failures) or "ceiling")
        console.print(
            f"[{p.number}/{limits.max_points}] {p.phase.value} {p.workers} workers, "
            f"buffer {p.buffer}, {p.load.value}: {_num(m.throughput, '/s')}, "
            f"p99 {_num(m.p99_ms, ' ms', 0)} -> {verdict} "
            f"({p.started_s + p.duration_s:.0f} s in)",
            markup=False,
        )

    from poolbench.tune.runner import run_probe

    outcome = run_tune(base, target, limits, run_point=run_probe, on_probe=on_probe)
    files = _write(outcome, directory)
    rec = outcome.recommendation
    if not quiet:
        _print_summary(rec, _console(stderr=False))
    console.print(stop_line(rec), markup=False)
    typer.echo(str(directory))
    if rec.stop is StopReason.INTERRUPTED:
        raise typer.Exit(exit_codes.INTERRUPTED)
    if files is None or rec.workers is None or not rec.headroom_met:
        raise typer.Exit(exit_codes.CHECK_FAILED)


def _console(*, stderr: bool, quiet: bool = False, file: IO[str] | None = None) -> Console:
    """A console that never breaks a line: piped output (80 columns by default) would
    split a verdict or a table row across lines."""
    from rich.console import Console

    console = Console(stderr=stderr, quiet=quiet, highlight=False, soft_wrap=True, file=file)
    if not console.is_terminal:
        console.width = _PIPED_WIDTH
    return console


def start_line(base: Scenario, target: Target, limits: SearchLimits) -> str:
    """What tune is about to do and how long it may take, before the first point."""
    from poolbench.scenario.estimate import estimate_s

    most = min(estimate_s(base, limits.max_points), limits.max_time_s)
    per_point = (estimate_s(base, 2) - estimate_s(base, 1)) - base.load.cooldown_s
    return (
        f"tune: the smallest pool for {target.rate:g}/s with p99 under {target.p99_ms:g} ms "
        f"({100 * target.p99_margin:g}% margin) and {100 * target.headroom:g}% headroom: "
        f"at most {limits.max_points} points of about {per_point:.0f} s each, "
        f"up to about {most / 60:.0f} min (--max-time {limits.max_time_s / 60:g} min); "
        "one line per point"
    )


def _write(outcome: TuneOutcome, directory: Path) -> object | None:
    """The tune report; if it cannot be written, at least the measured points (exit 1)."""
    from poolbench.report.tune_report import write_tune_report

    try:
        return write_tune_report(outcome, directory)
    except Exception as exc:
        logging.getLogger(__name__).exception("writing the tune report failed")
        from poolbench.results import ResultSet, save
        from poolbench.results.environment import Environment

        if outcome.points:
            save(
                ResultSet(
                    scenario_name=outcome.base.name,
                    scenario=outcome.base.to_dict(),
                    scenario_hash=outcome.base.scenario_hash,
                    environment=Environment.capture(),
                    points=outcome.points,
                ),
                directory,
            )
        print_error(f"the tune report could not be written ({exc!r}); points kept in {directory}")
        return None


def _num(value: float, unit: str, digits: int = 1) -> str:
    """A measured figure; "n/a" when nothing was measured (never 0 or inf)."""
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}{unit}"


def _print_summary(rec: Recommendation, console: Console) -> None:
    """A table of the points, then the recommendation: the command, the env, the headroom."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title="points measured", title_justify="left")
    left = ("phase", "load", "verdict")
    for name in ("#", "phase", "workers", "buffer", "load", "thrpt/s", "p99 ms", "MB", "verdict"):
        table.add_column(
            name,
            justify="left" if name in left else "right",
            no_wrap=name != "verdict",
            min_width=24 if name == "verdict" else None,
        )
    for p in rec.probes:
        m = p.measurement
        verdict = "ok" if p.meets else ("; ".join(p.failures) or "-")
        table.add_row(
            str(p.number),
            p.phase.value,
            str(p.workers),
            str(p.buffer),
            p.load.value,
            _num(m.throughput, ""),
            _num(m.p99_ms, "", 0),
            _num(m.memory_mb, "", 0),
            verdict + (" (harness saturated)" if m.harness_limited else ""),
        )
    console.print(table)
    t = rec.target
    asked = f"{100 * t.headroom:g}%"
    if rec.workers is None or rec.at_setting is None:
        console.print(
            f"no setting found: {rec.stop.value}" + (f" ({rec.error})" if rec.error else "")
        )
        return
    head = "recommended" if rec.headroom_met else "best setting found (NOT enough headroom)"
    console.print(f"{head}: {rec.workers} workers, buffer {rec.buffer}", markup=False)
    console.print(f"  {rec.command}", markup=False)
    console.print("  " + " ".join(f"{k}={v}" for k, v in rec.env.items()), markup=False)
    if rec.headroom is None:
        console.print(f"  headroom: not measured ({asked} asked for)", markup=False)
    else:
        console.print(
            f"  ceiling {rec.ceiling.measurement.throughput:.1f}/s: headroom "  # type: ignore[union-attr]
            f"{100 * rec.headroom:+.0f}% over {t.rate:g}/s ({asked} asked for)",
            markup=False,
        )
