"""An unreachable or unresolvable broker in `run`: one line, exit 2, no results folder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from poolbench.cli import exit_codes
from poolbench.run.preflight import BROKER_TIMEOUT_S
from tests.cli.run import poolbench

# Python's start-up and the imports of `run` on a busy machine, beside the broker timeout.
_START_UP_S = 20.0


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        ("127.0.0.1:1", "connection refused"),
        ("nosuchhost.invalid:9092", "cannot resolve 'nosuchhost.invalid'"),
        ("nosuchhost.invalid", "cannot resolve 'nosuchhost.invalid'"),
    ],
)
def test_an_unreachable_broker_is_one_line_and_exit_2(
    tmp_path: Path, servers: str, said: str
) -> None:
    out = tmp_path / "results"
    started = time.monotonic()
    result = poolbench(
        "run", "scenarios/quick.yaml", "--bootstrap-servers", servers, "--out", out, "-q"
    )
    elapsed = time.monotonic() - started
    assert result.returncode == exit_codes.USAGE, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("poolbench: error: Kafka at ")
    assert said in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # Nothing was started or written: not even an empty results/quick/ folder.
    assert not out.exists() or list(out.iterdir()) == []
    assert elapsed < BROKER_TIMEOUT_S + _START_UP_S
