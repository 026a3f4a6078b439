"""The lean process that `poolbench consume` turns into once its settings are validated.

typer coerces every parameter with pydantic, which adds about 13 MB to any process that
parses a command line with it. The consumer's memory is one of the measured figures, so
`consume` validates its settings under typer, then replaces itself with `os.execv` (same
PID, same stdio, same signals) by `python -m poolbench.cli.consume_run`, which imports
only the consumer. The settings travel as `dump_settings` JSON in an environment variable
(not argv, where the SMTP password would show in `ps`) and are read back, validated, by
`load_settings_json`: one serialization at the boundary.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

from poolbench.cli import edge, exit_codes
from poolbench.consumer.metrics import ConsumerCounters
from poolbench.consumer.settings import (
    ConsumerSettings,
    dump_settings,
    load_settings_json,
    settings_dict,
)
from poolbench.errors import PoolbenchError
from poolbench.redact import redact_mapping

SETTINGS_ENV = "POOLBENCH_CONSUME_SETTINGS"
OPTIONS_ENV = "POOLBENCH_CONSUME_OPTIONS"
# The same as poolbench.cli.app's, which cannot be imported here without typer.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run the consumer, beside its settings."""

    max_events: int | None
    summary_json: Path | None
    connect_timeout_s: float
    log_level: int

    def to_json(self) -> str:
        doc = asdict(self)
        doc["summary_json"] = None if self.summary_json is None else str(self.summary_json)
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> RunOptions:
        doc = json.loads(text)
        summary = doc["summary_json"]
        return cls(
            max_events=doc["max_events"],
            summary_json=None if summary is None else Path(summary),
            connect_timeout_s=doc["connect_timeout_s"],
            log_level=doc["log_level"],
        )


def exec_lean(settings: ConsumerSettings, options: RunOptions) -> NoReturn:
    """Replace this process by the lean consumer process."""
    os.environ[SETTINGS_ENV] = dump_settings(settings)
    os.environ[OPTIONS_ENV] = options.to_json()
    os.execv(sys.executable, [sys.executable, "-m", "poolbench.cli.consume_run"])


def finish(counters: ConsumerCounters, settings: ConsumerSettings, summary: Path | None) -> int:
    """Write the summary file and line; the exit code for these counters."""
    if summary is not None:
        doc = {**counters.to_dict(), "settings": redact_mapping(settings_dict(settings))}
        summary.write_text(json.dumps(doc, indent=2) + "\n")
    print(counters.summary_line(), file=sys.stderr, flush=True)
    return exit_codes.CHECK_FAILED if counters.timed_out else exit_codes.OK


def ready() -> None:
    print("consumer ready", file=sys.stderr, flush=True)


def main() -> None:
    from poolbench.consumer.service import run_consumer

    options = RunOptions.from_json(os.environ.pop(OPTIONS_ENV))
    logging.basicConfig(level=options.log_level, stream=sys.stderr, format=LOG_FORMAT)
    try:
        settings = load_settings_json(os.environ.pop(SETTINGS_ENV))
        counters = run_consumer(
            settings,
            max_events=options.max_events,
            on_ready=ready,
            connect_timeout_s=options.connect_timeout_s,
        )
    except PoolbenchError as exc:
        sys.exit(edge.report(exc))
    sys.exit(finish(counters, settings, options.summary_json))


if __name__ == "__main__":
    main()
