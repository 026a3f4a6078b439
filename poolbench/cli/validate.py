"""`poolbench validate FILE`: check a scenario and list the points it would run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def validate(
    file: Annotated[
        Path,
        typer.Argument(
            help="Scenario YAML file, e.g. scenarios/quick.yaml, or a shipped one's name."
        ),
    ],
) -> None:
    """Check a scenario file without running it and print its expanded points.

    Exit 0 when valid; otherwise one line naming the file, the key path and what was
    expected, and exit 2.
    """
    from rich.console import Console
    from rich.table import Table

    from poolbench.scenario import expand, load_scenario
    from poolbench.scenario.estimate import estimate_s
    from poolbench.units import format_duration

    scenario = load_scenario(file)
    points = expand(scenario)
    console = Console(highlight=False)
    console.print(f"[bold]{scenario.name}[/bold]: valid, {len(points)} point(s) to run")
    if scenario.description:
        console.print(scenario.description)
    load = scenario.load
    console.print(
        f"load: {_rate(scenario.load.rate_per_s, bool(scenario.load.profile))}, "
        f"warm-up {format_duration(load.warmup_s)} + measured {format_duration(load.duration_s)}"
        f" per point ({format_duration(load.total_s * len(points))} of load in all)"
    )
    total = estimate_s(scenario, len(points))
    console.print(
        f"estimated run time: about {_minutes(total)} (an estimate: load, plus the measured "
        "start-up, drain, cooldown and report times of poolbench.scenario.estimate)"
    )
    console.print(f"scenario hash: {scenario.scenario_hash}")
    swept = list(scenario.sweep.paths)
    fixed = [
        (path, title)
        for path, title in (
            ("consumer.workers", "workers"),
            ("consumer.buffer", "buffer"),
            ("sink.latency", "sink latency"),
            ("load.rate", "rate"),
        )
        if path not in swept
    ]
    repeats = scenario.repeats > 1
    table = Table("#", *(["repeat"] if repeats else []), *swept, *(t for _, t in fixed))
    for number, point in enumerate(points, start=1):
        resolved = point.scenario
        settings = {
            "consumer.workers": str(resolved.consumer.workers),
            "consumer.buffer": str(resolved.consumer.buffer),
            "sink.latency": resolved.sink.latency,
            "load.rate": _rate(resolved.load.rate_per_s, bool(resolved.load.profile)),
        }
        table.add_row(
            str(number),
            *([str(point.repeat + 1)] if repeats else []),
            *(str(point.params[path]) for path in swept),
            *(settings[path] for path, _ in fixed),
        )
    console.print(table)
    for gate in scenario.gates:
        console.print(f"gate: {gate}")
    from poolbench.run.plan import command_warning

    warning = command_warning(scenario)
    if warning is not None:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _rate(rate_per_s: float | None, profile: bool) -> str:
    if profile:
        return "profile"
    return "saturate" if rate_per_s is None else f"{rate_per_s:g}/s"


def _minutes(seconds: float) -> str:
    """`45 s`, `5 min 35 s`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60} s"
