"""Each side of a compare as something that runs a consumer: interpreter, package, env.

A git ref is exported with `git archive` into `<cache>/<commit>/src` and installed into
its own virtual environment `<cache>/<commit>/venv` (`--system-site-packages`, so the
libraries already installed serve it; a `.pth` file puts the export on its path): no
network, and a second compare of the same commit reuses both. A checkout's folder is
used as it is, with this interpreter.

Either way the side is probed once: its interpreter imports `poolbench` with
PYTHONSAFEPATH=1 from a neutral folder, says which file it imported (it must be the
side's) and which settings fields its consumer knows, so the runner writes only those
into an older consumer's settings file.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from poolbench.compare.spec import Spec
from poolbench.errors import ConfigError, RunError

_PROBE: Final = (
    "import json, poolbench\n"
    # What the consumer imports, so its first run does not wait for a cold disk.
    "import poolbench.cli.consume_run, poolbench.consumer.service\n"
    "from poolbench.consumer.settings import SETTINGS\n"
    "print(json.dumps({'file': poolbench.__file__, "
    "'version': getattr(poolbench, '__version__', '?'), "
    "'fields': [s.field for s in SETTINGS]}))\n"
)
_READY: Final = "ready"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledSide:
    """What the runner needs to run one side's consumer."""

    name: str  # "A" or "B"
    spec: Spec
    label: str  # e.g. "HEAD~1 (1a2b3c4)"
    commit: str | None
    python: str
    pythonpath: Path | None  # the folder holding the side's `poolbench`; None for a command
    command: str | None  # a foreign consumer's command
    fields: frozenset[str] | None  # settings fields the side's consumer knows
    env: dict[str, str] = field(default_factory=dict)  # --a-env / --b-env


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "poolbench" / "compare"


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError as exc:
        raise ConfigError("git is not installed; a git ref needs it") from exc
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def resolve_commit(repo: Path, ref: str) -> str:
    return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()


def _site_packages(venv: Path) -> Path:
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    return Path(purelib)


def install_commit(repo: Path, commit: str, cache: Path) -> tuple[str, Path]:
    """(python, src) of `commit`, exported and installed once under `cache/<commit>`."""
    target = cache / commit
    src, venv = target / "src", target / "venv"
    python = venv / "bin" / "python"
    if (target / _READY).is_file() and python.exists():
        return str(python), src
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=cache))
    try:
        archive = _git(repo, "archive", "--format=tar", commit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(staging / "src", filter="data")
        if not (staging / "src" / "poolbench" / "__init__.py").is_file():
            raise ConfigError(f"commit {commit[:12]} holds no poolbench/__init__.py")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "venv",
                "--system-site-packages",
                "--without-pip",
                str(staging / "venv"),
            ],
            capture_output=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RunError(f"python -m venv failed: {done.stderr.decode(errors='replace')}")
        site = _site_packages(staging / "venv")
        site.mkdir(parents=True, exist_ok=True)
        # The final location, not the staging one: the folder is renamed below.
        (site / "poolbench-compare.pth").write_text(f"{src}\n")
        (staging / _READY).write_text(commit + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(python), src


def probe(python: str, pythonpath: Path) -> tuple[str, frozenset[str]]:
    """(version, settings fields) of the side; fails if it imports another checkout."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(pythonpath),
        "PYTHONSAFEPATH": "1",
    }
    with tempfile.TemporaryDirectory(prefix="poolbench-probe-") as neutral:
        done = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            check=False,
            timeout=120,
            env=env,
            cwd=neutral,
        )
    if done.returncode != 0:
        raise RunError(
            f"{python} cannot import poolbench from {pythonpath}: "
            f"{done.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
        )
    doc = json.loads(done.stdout.decode().strip().splitlines()[-1])
    imported = Path(doc["file"]).resolve()
    if not imported.is_relative_to(pythonpath.resolve()):
        raise RunError(
            f"{python} imported poolbench from {imported}, not from {pythonpath}: "
            "another install shadows the side's checkout"
        )
    return str(doc["version"]), frozenset(doc["fields"])


def install_side(
    name: str, spec: Spec, *, repo: Path, cache: Path, env: dict[str, str]
) -> InstalledSide:
    """Make one side runnable: install a git ref, check a checkout, or keep a command."""
    if spec.kind == "command":
        return InstalledSide(
            name=name,
            spec=spec,
            label=f"command: {spec.value}",
            commit=None,
            python=sys.executable,
            pythonpath=None,
            command=spec.value,
            fields=None,
            env=env,
        )
    if spec.kind == "path":
        folder = Path(spec.value)
        commit = _commit_of_checkout(folder)
        _version, fields = probe(sys.executable, folder)
        label = str(folder) if commit is None else f"{folder} ({commit[:7]})"
        return InstalledSide(
            name=name,
            spec=spec,
            label=label,
            commit=commit,
            python=sys.executable,
            pythonpath=folder,
            command=None,
            fields=fields,
            env=env,
        )
    commit = resolve_commit(repo, spec.value)
    if not commit:
        raise ConfigError(f"{spec.value!r} is not a commit of {repo}")
    python, src = install_commit(repo, commit, cache)
    _version, fields = probe(python, src)
    return InstalledSide(
        name=name,
        spec=spec,
        label=f"{spec.value} ({commit[:7]})",
        commit=commit,
        python=python,
        pythonpath=src,
        command=None,
        fields=fields,
        env=env,
    )


def _commit_of_checkout(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except FileNotFoundError:
        return None
    return done.stdout.decode().strip() or None if done.returncode == 0 else None
