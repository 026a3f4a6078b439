"""Debian's `prometheus` package (promtool, the server) for the tests of deploy/prometheus.

Without it the tests skip, except under CI (CI=true), where they fail: a missing
package must show, as the foreign-consumer tests do for Go (tests/examples/harness.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
RULES_DIR: Final = ROOT / "deploy" / "prometheus"
RULES: Final = RULES_DIR / "poolbench-rules.yaml"
RULES_TEST: Final = RULES_DIR / "poolbench-rules.test.yaml"


def need_tool(name: str) -> str:
    """The path of `name` (promtool, prometheus); skip without it, fail under CI."""
    found = shutil.which(name)
    if found is not None:
        return found
    what = f"{name} is not installed (Debian: apt-get install prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {what}", pytrace=False)
    pytest.skip(what)
