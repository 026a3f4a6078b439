"""The lean process that `poolbench consume` turns into once its flags are validated.

typer coerces every parameter with pydantic, which adds about 13 MB to any process that
parses a command line with it. The consumer's memory is one of the measured figures, so
`consume` validates its settings under typer, then replaces itself with `os.execv` (same
PID, same stdio, same signals) by `python -m poolbench.cli.consume_run`, which imports
only the consumer. The settings travel in an environment variable (not argv, where the
SMTP password would show in `ps`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from poolbench.consumer.metrics import ConsumerCounters
from poolbench.consumer.service import run_consumer
from poolbench.consumer.settings import ConsumerSettings
from poolbench.errors import UserError

SPEC_ENV = "POOLBENCH_CONSUME_SPEC"
# The same as poolbench.cli.app's, which cannot be imported here without typer.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXIT_TIMED_OUT = 1
EXIT_USER_ERROR = 2


def encode_spec(
    settings: ConsumerSettings,
    *,
    max_events: int | None,
    summary_json: Path | None,
    connect_timeout_s: float,
    log_level: int,
) -> str:
    doc: dict[str, Any] = asdict(settings)
    if settings.templates_dir is not None:
        doc["templates_dir"] = str(settings.templates_dir)
    return json.dumps(
        {
            "settings": doc,
            "max_events": max_events,
            "summary_json": str(summary_json) if summary_json is not None else None,
            "connect_timeout_s": connect_timeout_s,
            "log_level": log_level,
        }
    )


def finish(counters: ConsumerCounters, summary_json: Path | None) -> int:
    """Write the summary file and line; the exit code for these counters."""
    if summary_json is not None:
        summary_json.write_text(json.dumps(counters.to_dict(), indent=2) + "\n")
    print(counters.summary_line(), file=sys.stderr, flush=True)
    return EXIT_TIMED_OUT if counters.timed_out else 0


def ready() -> None:
    print("consumer ready", file=sys.stderr, flush=True)


def main() -> None:
    spec = json.loads(os.environ.pop(SPEC_ENV))
    logging.basicConfig(level=spec["log_level"], stream=sys.stderr, format=LOG_FORMAT)
    fields = dict(spec["settings"])
    if fields.get("templates_dir") is not None:
        fields["templates_dir"] = Path(fields["templates_dir"])
    settings = ConsumerSettings(**fields)
    summary = Path(spec["summary_json"]) if spec["summary_json"] is not None else None
    try:
        counters = run_consumer(
            settings,
            max_events=spec["max_events"],
            on_ready=ready,
            connect_timeout_s=spec["connect_timeout_s"],
        )
    except UserError as exc:
        print(f"poolbench: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(finish(counters, summary))


if __name__ == "__main__":
    main()
