"""The exit codes of every `poolbench` subcommand, and which error gets which.

Free of typer, so the lean consumer process (`poolbench.cli.consume_run`) uses them too.
"""

from __future__ import annotations

from typing import Final

from poolbench.errors import RunError, UserError

OK: Final = 0
# Something measured or run did not hold: a gate, a regression, a part of the harness
# that failed (`RunError`), a consumer that could not finish before its shutdown timeout.
CHECK_FAILED: Final = 1
# The input is unusable: a bad flag, variable or scenario, an unreachable broker
# (`UserError`); click's own usage errors exit 2 as well.
USAGE: Final = 2
# Stopped by Ctrl-C or SIGTERM (128 + SIGINT, the shell's convention).
INTERRUPTED: Final = 130


def for_error(exc: BaseException) -> int | None:
    """The exit code for an error poolbench raises on purpose; None for a bug."""
    if isinstance(exc, UserError):
        return USAGE
    if isinstance(exc, RunError):
        return CHECK_FAILED
    return None
