"""`poolbench tune`: the smallest pool meeting a rate and a p99 target, measured."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from poolbench.cli import exit_codes


def tune(
    *,
    rate: Annotated[str, typer.Option("--rate", help="Target rate to sustain, e.g. 300/s.")],
    p99: Annotated[
        str, typer.Option("--p99", help="End-to-end p99 latency not to exceed, e.g. 500ms.")
    ],
    p99_margin: Annotated[
        float,
        typer.Option(
            "--p99-margin",
            min=0.0,
            max=0.9,
            help="Share by which a point must beat --p99 (0.2: 500ms needs <= 400ms measured); "
            "a setting that only just passes fails about every other re-run.",
        ),
    ] = 0.2,
    sink_latency: Annotated[
        str,
        typer.Option(
            "--sink-latency",
            help="SMTP latency of the embedded sink, e.g. 100ms (ignored with --scenario).",
        ),
    ] = "100ms",
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="A scenario file fixing broker, sink and load; tune overrides consumer.workers, "
            "consumer.buffer and load.rate, and ignores its sweep.",
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
        typer.Option("--max-time", help="Time budget; no point starts that would overrun it."),
    ] = "10m",
    duration: Annotated[
        str,
        typer.Option("--duration", help="Measured window per point (without --scenario)."),
    ] = "10s",
    warmup: Annotated[
        str, typer.Option("--warmup", help="Warm-up per point (without --scenario).")
    ] = "3s",
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Results root; writes <out>/tune/<UTC timestamp>/."),
    ] = Path("results"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the folder written.")] = False,
) -> None:
    """Search measured points for the smallest workers/buffer meeting --rate and --p99.

    Then: the ceiling at that setting, the knee, Little's law and USL fits.

    Writes tune.md, tune.json, tune.png and results.json under --out.

    Exit 0 with a recommendation, 1 without, 130 on Ctrl-C (what was measured is written).
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from poolbench.scenario import load_scenario
    from poolbench.tune.measured import base_scenario
    from poolbench.tune.search import Probe, SearchLimits, StopReason, Target
    from poolbench.tune.session import tune as run_tune
    from poolbench.units import parse_duration, parse_rate

    target = Target(
        rate=parse_rate(rate, what="--rate"),
        p99_ms=1000 * parse_duration(p99, what="--p99"),
        p99_margin=p99_margin,
    )
    limits = SearchLimits(
        max_workers=max_workers,
        max_points=max_points,
        max_time_s=parse_duration(max_time, what="--max-time"),
    )
    if scenario is not None:
        base = load_scenario(scenario)
    else:
        base = base_scenario(
            rate=target.rate,
            sink_latency=sink_latency,
            duration_s=parse_duration(duration, what="--duration"),
            warmup_s=parse_duration(warmup, what="--warmup"),
        )
    console = Console(stderr=True, quiet=quiet)

    def on_probe(p: Probe) -> None:
        m = p.measurement
        verdict = "ok" if p.meets else ("; ".join(p.failures) or "ceiling")
        console.print(
            f"[{p.index + 1}/{limits.max_points}] {p.phase.value}: {p.workers} workers, "
            f"buffer {p.buffer}, {p.load.value}: {m.throughput:.1f}/s, p99 {m.p99_ms:.0f} ms, "
            f"{m.memory_mb:.0f} MB, CPU {m.cpu_percent:.0f}% -> {verdict}"
        )

    from poolbench.tune.runner import run_probe

    outcome = run_tune(base, target, limits, run_point=run_probe, on_probe=on_probe)
    from poolbench.report.tune_report import write_tune_report

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    files = write_tune_report(outcome, out / "tune" / stamp)
    if not quiet:
        Console().print(Markdown(files.markdown.read_text()))
    typer.echo(str(files.markdown.parent))
    rec = outcome.recommendation
    if rec.stop is StopReason.INTERRUPTED:
        raise typer.Exit(exit_codes.INTERRUPTED)
    if rec.workers is None:
        raise typer.Exit(exit_codes.CHECK_FAILED)
