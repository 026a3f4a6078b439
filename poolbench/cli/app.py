"""The typer application and the one place where errors become an exit code.

`run_app` turns every `UserError` (exit 2) and `RunError` (exit 1) into one line on
stderr; the codes are `poolbench.cli.exit_codes`'s. A bug keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer
import typer.core
import typer.rich_utils

from poolbench import __version__
from poolbench.cli import commands, edge
from poolbench.errors import RunError, UserError

# typer (0.2x) shows an option's type as `<str>`, `<int range>`, and `<bool>` even for a
# flag, which takes no value. Show click's words instead (TEXT, INTEGER, PATH), nothing
# for a flag; an option's own metavar (DURATION, RATE, PERCENT) still wins.
_TYPE_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "FLOAT",
    "path": "PATH",
    "Path": "PATH",
    "bool": "BOOLEAN",
    "int range": "INTEGER",
    "float range": "FLOAT",
    "list[str]": "TEXT",
    "list[Path]": "PATH",
    "list[path]": "PATH",
}


def _display_type(self: Any, ctx: Any) -> str | None:
    if getattr(self, "metavar", None) is not None:
        return str(self.metavar)
    if getattr(self, "is_flag", False) and not getattr(self, "count", False):
        return None
    shown: str = _plain_display_type(self, ctx)
    word = shown.removeprefix("<").removesuffix(">")
    word = _TYPE_WORDS.get(word, word.upper() if word.isidentifier() else word)
    return word + ("..." if getattr(self, "nargs", 1) != 1 else "")


_plain_display_type = typer.core._TyperParameter.display_type
for _cls in (typer.core.TyperOption, typer.core.TyperArgument):
    _cls.display_type_rich = _display_type  # type: ignore[method-assign]


def _usage_name(self: Any) -> str:
    """An argument in the usage line as click writes it: `CURRENT`, `[DEST]`; typer
    (0.29) writes a required one as `{current}`, which reads like a placeholder."""
    name = str(self.metavar or self.name).upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def _reflowed(paragraphs: list[str], markup_mode: Any) -> str:
    """A docstring's paragraphs after the first, each as one flowing line, so the terminal
    wraps them at its width: typer keeps the source's line breaks there, which cut
    sentences at column 88 ("... then prints the / folder."). A line starting with "-"
    (a list item) or `\\b` (typer's "keep as is") keeps its break."""
    out = []
    for paragraph in paragraphs:
        if paragraph.startswith("\b"):
            out.append(paragraph)
            continue
        lines = paragraph.split("\n")
        text = lines[0]
        for line in lines[1:]:
            joined = line.lstrip().startswith(("-", "*"))
            text += ("\n" if joined else " ") + (line if joined else line.strip())
        out.append(text)
    return "\n\n".join(out)


typer.rich_utils._fix_linebreaks = _reflowed

app = typer.Typer(
    name="poolbench",
    help=(
        "Size, trust and guard a pooled Kafka-to-SMTP email consumer.\n\n"
        "Parts: `broker` (embedded Kafka), `sink` (fake SMTP server), `produce` (load "
        "generator), `consume` (the pooled consumer under test). Runs: `run` a scenario "
        "sweep, `gate` against a baseline, `tune` for sizing advice; `init` writes the "
        "shipped scenarios out."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"poolbench {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    log_level: str = typer.Option(
        "INFO", "--log-level", envvar="POOLBENCH_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    """Each subcommand lives in its own module under poolbench.cli."""
    for name, function in commands.COMMANDS:
        app.command(name)(function)
    for name, sub_app in commands.GROUPS:
        app.add_typer(sub_app, name=name)


_register()


def run_app(typer_app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run a typer app; a `UserError` or `RunError` becomes one line and its exit code."""
    try:
        typer_app(args=argv, standalone_mode=True)
    except (UserError, RunError) as exc:
        sys.exit(edge.report(exc))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `poolbench` script."""
    run_app(app, argv)
