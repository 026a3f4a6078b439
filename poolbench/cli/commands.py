"""The list of subcommands: one line per module under poolbench.cli.

Subcommand modules import the library inside their function, so that `poolbench --help`
does not pay for pandas, matplotlib or confluent-kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

COMMANDS: list[tuple[str, Callable[..., Any]]] = []
GROUPS: list[tuple[str, typer.Typer]] = []

from poolbench.cli.sink import sink  # noqa: E402  (typer only; the library loads lazily)

COMMANDS.append(("sink", sink))
