"""`poolbench init DIR`: the shipped scenarios and a README stub, to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init(
    folder: Annotated[Path, typer.Argument(help="Folder to write to (made if missing).")],
    *,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files of the same names.")
    ] = False,
) -> None:
    """Write the scenarios that ship with poolbench to FOLDER/scenarios/ and a README
    stub to FOLDER/README.md, to copy and edit.

    Nothing is replaced without --force: files of the same names are an error (exit 2)
    that lists them all.
    """
    from poolbench import __version__
    from poolbench.scenario.shipped import init_folder

    written = init_folder(folder, version=__version__, force=force)
    for path in written:
        typer.echo(str(path))
    typer.echo(f"next: cd {folder} && poolbench validate scenarios/quick.yaml", err=True)
