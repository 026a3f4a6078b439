"""`poolbench show DIR`: the results table in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def show(
    directory: Annotated[
        Path,
        typer.Argument(help="A run's folder holding results.json (or the results.json itself)."),
    ],
) -> None:
    """Print a run's results as a table: the seed's columns plus ideal, losses, warnings."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from poolbench.report.summary import summary_table
    from poolbench.results import load

    result_set = load(directory)
    env = result_set.environment
    summary = summary_table(result_set)
    # Warnings are long sentences: they go under the table, not in a column.
    keep = [i for i, h in enumerate(summary.headers) if h != "Warnings"]
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
        title=f"{result_set.scenario_name} ({len(result_set.points)} point(s))",
        caption=(
            f"{env.host}, {env.cpu_count} x {env.cpu_model}, Python {env.python}, "
            f"commit {(env.git_commit or 'unknown')[:12]}, {env.created_utc}"
        ),
    )
    for i in keep:
        header = summary.headers[i]
        table.add_column(_SHORT.get(header, header), no_wrap=True, justify="right")
    for row, flagged in zip(summary.rows, summary.flagged, strict=True):
        cells = (_compact(row[i]) for i in keep)
        table.add_row(*cells, style="red" if flagged else None)
    console = Console(highlight=False)
    console.print(table)
    for number, point in enumerate(result_set.points, start=1):
        notes = ([f"lost {point.lost} of {point.produced}"] if point.has_losses else []) + list(
            point.warnings
        )
        if notes:
            console.print(f"[red]point {number}:[/red] " + "; ".join(notes))


# Terminal headers, short enough for 80 columns.
_SHORT = {
    "Throughput": "Thrpt",
    "Latency avg": "Lat avg",
    "Memory": "Mem",
    "Share of ideal": "%ideal",
    "Lost / Dup / DLQ": "Lost/Dup/DLQ",
}


def _compact(cell: str) -> str:
    return cell.replace(" / ", "/").replace(" /s", "/s").replace(" ms", "ms").replace(" MB", "MB")
