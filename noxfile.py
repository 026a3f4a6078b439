"""nox sessions: `tests`, `lint` (ruff + mypy --strict + lint-imports), `bench`
(pytest-benchmark, compared with the stored baseline), `bench-save` (store this machine's
baseline)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "poolbench", "tests", "benchmarks")
    # The import contracts in pyproject.toml ([tool.importlinter]): layers, the consumer
    # free of the harness, who may import typer/rich/pandas/matplotlib, no cycles.
    session.run("lint-imports")


# Stored pytest-benchmark baselines, one folder per machine id (OS-implementation-
# version-bits). Only a baseline saved on a machine of the same id is compared with.
BENCH_STORAGE = Path("benchmarks/baseline")
# Fail when a benchmark's minimum time rose by more than this over the stored baseline.
# The minimum is the least noisy statistic; the limit is wide because a shared 2-core
# machine slowed unchanged code by up to 4x between runs (docs/github-actions.md).
BENCH_FAIL_DEFAULT = "min:100%"


def _machine_id() -> str:
    # pytest-benchmark's get_machine_id(), for the interpreter the session uses.
    return f"{platform.system()}-{platform.python_implementation()}-3.11-64bit"


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Micro-benchmarks, each beside the plain baseline it wraps, in the same run; then
    compared with the stored baseline (`--benchmark-compare-fail`) when one exists for
    this machine. POOLBENCH_BENCH_FAIL overrides the limit (e.g. `min:50%`)."""
    session.install("-e", ".[test]")
    compare: list[str] = []
    if list((BENCH_STORAGE / _machine_id()).glob("*.json")):
        limit = os.environ.get("POOLBENCH_BENCH_FAIL", BENCH_FAIL_DEFAULT)
        compare = ["--benchmark-compare", f"--benchmark-compare-fail={limit}"]
    else:
        session.log(f"no stored baseline in {BENCH_STORAGE / _machine_id()}: not comparing")
    session.run(
        "pytest",
        "benchmarks",
        "--benchmark-only",
        "--benchmark-columns=min,median,mean,ops,rounds",
        f"--benchmark-storage=file://{BENCH_STORAGE}",
        *compare,
        *session.posargs,
    )


@nox.session(name="bench-save", python="3.11")
def bench_save(session: nox.Session) -> None:
    """Run the micro-benchmarks and store them as this machine's baseline for `bench`."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "benchmarks",
        "--benchmark-only",
        f"--benchmark-storage=file://{BENCH_STORAGE}",
        "--benchmark-save=baseline",
        *session.posargs,
    )
