"""nox sessions: `tests`, `lint` (ruff + mypy --strict), `bench` (pytest-benchmark)."""

from __future__ import annotations

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


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Micro-benchmarks, each beside the plain baseline it wraps, in the same run."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "benchmarks",
        "--benchmark-only",
        "--benchmark-columns=min,median,mean,ops,rounds",
        *session.posargs,
    )
