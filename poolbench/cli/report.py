"""`poolbench report DIR`: rebuild results.csv, report.md, report.html and the charts from
results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A run's folder (results/<scenario>/<timestamp>/), its results.json, or a "
            "scenario's folder (results/<scenario>/: its newest run)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the report to this folder instead of the run's.",
            show_default="the run's folder",
        ),
    ] = None,
) -> None:
    """Rebuild the report (results.csv, report.md, report.html, PNG charts) from a
    results.json."""
    from poolbench.cli.edge import writable_directory
    from poolbench.gates.baseline import resolve_results
    from poolbench.results import load

    results_file = resolve_results(directory)
    result_set = load(results_file)
    # Checked before any chart is drawn: an unwritable folder is one line and exit 2.
    target = writable_directory(
        out if out is not None else results_file.parent, what="--out" if out else "DIRECTORY"
    )
    # Imported after loading: a bad file fails fast, without paying for matplotlib.
    from poolbench.report.writer import write_report

    files = write_report(result_set, target, run_dir=results_file.parent)
    typer.echo(f"wrote {files.html}")
    typer.echo(f"wrote {files.markdown}")
    typer.echo(f"wrote {files.csv}")
    for chart in files.charts:
        typer.echo(f"wrote {chart}")
