"""The list of subcommands: one line per module under poolbench.cli.

Subcommand modules import the library inside their function, so that `poolbench --help`
does not pay for pandas, matplotlib or confluent-kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from poolbench.cli.baseline import baseline_app
from poolbench.cli.broker import broker
from poolbench.cli.compare import compare
from poolbench.cli.consume import consume
from poolbench.cli.gate import gate
from poolbench.cli.init import init
from poolbench.cli.merge import merge
from poolbench.cli.produce import produce
from poolbench.cli.report import report
from poolbench.cli.run import run
from poolbench.cli.show import show
from poolbench.cli.sink import sink
from poolbench.cli.tune import tune
from poolbench.cli.validate import validate

COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("broker", broker),
    ("produce", produce),
    ("consume", consume),
    ("sink", sink),
    ("validate", validate),
    ("init", init),
    ("report", report),
    ("show", show),
    ("run", run),
    ("tune", tune),
    ("gate", gate),
    ("compare", compare),
    ("merge", merge),
]
GROUPS: list[tuple[str, typer.Typer]] = [("baseline", baseline_app)]
