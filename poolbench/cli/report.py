"""`poolbench report DIR`: rebuild results.csv, report.md, report.html and the charts from
results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    directory: Annotated[
        Path,
        typer.Argument(help="A run's folder holding results.json (or the results.json itself)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the report here instead. Default: next to results.json."
        ),
    ] = None,
) -> None:
    """Rebuild the report (results.csv, report.md, report.html, PNG charts) from a
    results.json."""
    from poolbench.results import load

    result_set = load(directory)
    # Imported after loading: a bad file fails fast, without paying for matplotlib.
    from poolbench.report.writer import write_report

    run_dir = directory if directory.is_dir() else directory.parent
    target = out if out is not None else run_dir
    files = write_report(result_set, target, run_dir=run_dir)
    typer.echo(f"wrote {files.html}")
    typer.echo(f"wrote {files.markdown}")
    typer.echo(f"wrote {files.csv}")
    for chart in files.charts:
        typer.echo(f"wrote {chart}")
