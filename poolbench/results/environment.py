"""Where a result was measured: the machine, Python and library versions, the commit.

Captured once per run; `Environment.differences` says what differs in a way that makes
two results incomparable (checked before any comparison, as pyperf does).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.metadata
import os
import platform
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from poolbench import __version__
from poolbench.errors import ResultsError

# Shown for the commit of a result measured outside a git checkout.
NO_COMMIT: Final = "none"
# Library versions recorded with every result; a difference makes numbers incomparable.
_DISTRIBUTIONS: Final = ("confluent-kafka", "aiosmtpd", "aiosmtplib", "uvloop")


def _check(condition: bool, message: str, key: str) -> None:
    if not condition:
        raise ResultsError(message, key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Where a result was measured. `versions` maps distribution name to version.

    `host` and `platform` (which includes the kernel release) are recorded but not
    compared: ephemeral CI runners change both on every run. `machine` (OS and
    architecture), `cpu_model`, `cpu_count`, Python and library versions are compared.
    """

    host: str
    platform: str
    machine: str
    cpu_model: str
    cpu_count: int
    python: str
    versions: Mapping[str, str | None]
    git_commit: str | None
    created_utc: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        _check(self.cpu_count >= 1, f"must be at least 1, got {self.cpu_count}", "cpu_count")

    @classmethod
    def capture(
        cls, *, repo_dir: Path | None = None, now: _dt.datetime | None = None
    ) -> Environment:
        """The environment of this process; the git commit of `repo_dir` (default: cwd)."""
        moment = now if now is not None else _dt.datetime.now(_dt.UTC)
        return cls(
            host=socket.gethostname(),
            platform=platform.platform(),
            machine=f"{platform.system()} {platform.machine()}",
            cpu_model=_cpu_model(),
            cpu_count=os.cpu_count() or 1,
            python=platform.python_version(),
            versions=_library_versions(),
            git_commit=_git_commit(repo_dir if repo_dir is not None else Path.cwd()),
            created_utc=moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @property
    def commit_label(self) -> str:
        """The git commit, or "none" when the run was not made in a git checkout (a pip
        or pipx install): nothing is unknown about that."""
        return self.git_commit or NO_COMMIT

    @property
    def poolbench_version(self) -> str | None:
        """The version of poolbench that measured (recorded with the other versions)."""
        return self.versions.get("poolbench")

    def differences(self, other: Environment) -> list[str]:
        """What differs in a way that makes numbers incomparable; empty when comparable.

        The git commit and the time are expected to differ (that is what is compared)
        and are not reported.
        """
        out: list[str] = []
        for name in ("machine", "cpu_model", "cpu_count", "python"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: {mine!r} != {theirs!r}")
        for name in sorted(set(self.versions) | set(other.versions)):
            mine_v, theirs_v = self.versions.get(name), other.versions.get(name)
            if mine_v != theirs_v:
                out.append(f"{name}: {mine_v!r} != {theirs_v!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "platform": self.platform,
            "machine": self.machine,
            "cpu_model": self.cpu_model,
            "cpu_count": self.cpu_count,
            "python": self.python,
            "versions": dict(self.versions),
            "git_commit": self.git_commit,
            "created_utc": self.created_utc,
        }


def _cpu_model() -> str:
    """`model name` from /proc/cpuinfo on Linux; `platform.processor()` elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"poolbench": __version__}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        kafka = importlib.import_module("confluent_kafka")
        versions["librdkafka"] = str(kafka.libversion()[0])
    except ImportError:
        versions["librdkafka"] = None
    return versions


def _git_commit(repo_dir: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
