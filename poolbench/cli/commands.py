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

from poolbench.cli.report import report  # noqa: E402
from poolbench.cli.show import show  # noqa: E402
from poolbench.cli.validate import validate  # noqa: E402

COMMANDS.extend([("validate", validate), ("report", report), ("show", show)])
