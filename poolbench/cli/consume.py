"""`poolbench consume`: the pooled email consumer (Kafka -> worker pool -> SMTP).

Its setting options are generated from `poolbench.consumer.settings.SETTINGS`: one option
per row, with the row's metavar, variable and default, so help, README and parsing cannot
drift apart. click only collects the text; `load_settings` parses it (flag beats
variable beats default) so that an error names the flag or variable it came from.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from poolbench.consumer.settings import SETTINGS, ConsumerSettings, SettingSpec

# "1": consume in this process, without the re-exec (tests cover that path with it).
IN_PROCESS_ENV = "POOLBENCH_CONSUME_IN_PROCESS"


def _setting_parameter(spec: SettingSpec) -> inspect.Parameter:
    default = spec.text(spec.default)
    option = typer.Option(
        default,
        spec.flag,
        metavar=spec.kind,
        envvar=spec.env,
        show_envvar=True,
        # For an empty default, the table's word for it; typer adds the parentheses.
        show_default=spec.default_text.strip("()") if default == "" else True,
        help=spec.help[:1].upper() + spec.help[1:] + ".",
        hidden=spec.hidden,
    )
    return inspect.Parameter(spec.field, inspect.Parameter.KEYWORD_ONLY, default=option)


def _run_parameters() -> list[inspect.Parameter]:
    def keyword(name: str, annotation: Any, option: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
        )

    return [
        keyword(
            "max_events",
            int | None,
            typer.Option(
                None,
                "--max-events",
                min=1,
                metavar="INTEGER",
                help="Exit after this many events are finished (sent or dead-lettered). "
                "Default: run until SIGTERM/SIGINT.",
            ),
        ),
        keyword(
            "summary_json",
            Path | None,
            typer.Option(
                None,
                "--summary-json",
                metavar="PATH",
                help="Write the final counters (sent, dead_lettered, left_uncommitted, ...) "
                "and the effective settings (secrets masked) as JSON.",
            ),
        ),
        keyword(
            "connect_timeout",
            str,
            typer.Option(
                "10s",
                "--connect-timeout",
                metavar="DURATION",
                help="How long to wait for the Kafka broker at start.",
            ),
        ),
        keyword(
            "settings_file",
            Path | None,
            typer.Option(
                None,
                "--settings-file",
                metavar="PATH",
                hidden=True,
                help="Run with exactly these settings (JSON of dump_settings); setting "
                "flags and variables are not read. For the runner.",
            ),
        ),
    ]


def _given_flags(ctx: typer.Context, params: dict[str, Any]) -> dict[str, object | None]:
    """The setting options given on the command line (the environment is load_settings')."""
    given = {}
    for spec in SETTINGS:
        source = ctx.get_parameter_source(spec.field)
        if source is not None and source.name == "COMMANDLINE":
            given[spec.field] = params[spec.field]
    return given


def consume(ctx: typer.Context, **params: Any) -> None:
    """Consume EmailEvents from Kafka and send them over SMTP with a pool of workers.

    At least once: an offset is committed once it and every lower one are sent or
    dead-lettered.

    Prints "consumer ready" on stderr once it has its partitions, a summary at exit.

    Exit 0 after a clean stop (SIGTERM, SIGINT, --max-events), 1 when the shutdown
    timeout passed (unfinished events stay uncommitted for redelivery), 2 on bad input.
    """
    from poolbench.consumer.settings import load_settings
    from poolbench.units import parse_duration

    settings_file: Path | None = params["settings_file"]
    if settings_file is not None:
        settings = _from_file(settings_file)
    else:
        settings = load_settings(_given_flags(ctx, params), os.environ)
    timeout = parse_duration(params["connect_timeout"], what="--connect-timeout")
    _start(settings, params["max_events"], params["summary_json"], timeout)


def _from_file(path: Path) -> ConsumerSettings:
    """The settings in a `dump_settings` file; an error names the file (and field)."""
    from poolbench.consumer.settings import load_settings_json
    from poolbench.errors import ConfigError

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from exc
    try:
        return load_settings_json(text)
    except ConfigError as exc:
        raise exc.at(f"{path}:{exc.where}" if exc.where else str(path)) from exc


def _start(
    settings: ConsumerSettings, max_events: int | None, summary: Path | None, timeout: float
) -> None:
    from poolbench.cli.consume_run import RunOptions, exec_lean, finish, ready

    options = RunOptions(
        max_events=max_events,
        summary_json=summary,
        connect_timeout_s=timeout,
        log_level=logging.getLogger().level,
    )
    if os.environ.get(IN_PROCESS_ENV) != "1":
        # Shed typer and pydantic (~13 MB) before consuming: see consume_run.
        sys.stdout.flush()
        sys.stderr.flush()
        exec_lean(settings, options)
    from poolbench.consumer.service import run_consumer

    counters = run_consumer(
        settings, max_events=max_events, on_ready=ready, connect_timeout_s=timeout
    )
    code = finish(counters, settings, summary)
    if code:
        raise typer.Exit(code)


consume.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *(_setting_parameter(spec) for spec in SETTINGS),
        *_run_parameters(),
    ],
    return_annotation=None,
)
