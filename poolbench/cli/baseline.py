"""`poolbench baseline save RESULTS DEST.json`: store a run as the gate's baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

baseline_app = typer.Typer(
    help="Manage the baselines `poolbench gate` compares against (results/baselines/).",
    no_args_is_help=True,
)


@baseline_app.command("save")
def save(
    current: Annotated[
        Path,
        typer.Argument(
            help="A results directory (results/<scenario>/<timestamp>/) or its results.json.",
            show_default=False,
        ),
    ],
    dest: Annotated[
        Path,
        typer.Argument(
            help="Where to store the baseline, e.g. results/baselines/quick.json.",
            show_default=False,
        ),
    ],
) -> None:
    """Validate a run's results and store them (without timelines) as a baseline file."""
    from poolbench.gates.baseline import save_baseline

    written = save_baseline(current, dest)
    typer.echo(f"baseline saved: {written}")


@baseline_app.callback()
def _group() -> None:
    """Baselines for `poolbench gate`."""
