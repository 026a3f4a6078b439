"""Each side of a compare as something that runs a consumer: interpreter, package, env.

A git ref is exported with `git archive` into `<cache>/<commit>/src` and installed into
its own virtual environment `<cache>/<commit>/venv`, whose one `.pth` file puts the export
first on its path and then the import folders of the *running* interpreter: the libraries
that serve this poolbench serve the ref too, whether it runs from a virtual environment,
a pipx-style install or the system interpreter (`--system-site-packages` would see only
the base interpreter's). The folders are added as plain paths, so the running
environment's own `.pth` files and import hooks (an editable install of poolbench among
them) do not run there; the export comes first, so no other poolbench shadows it. No
network, and a second compare of the same commit reuses both. A checkout's folder is
used as it is, with this interpreter.

Either way the side is probed: its interpreter imports `poolbench` with PYTHONSAFEPATH=1
from a neutral folder, says which file it imported (it must be the side's) and which
settings fields its consumer knows, so the runner writes only those into an older
consumer's settings file. A git ref's environment is marked ready only after its probe
passed, so a broken one is never reused; a side that cannot be installed or imported is
a `ConfigError` (one line, exit 2) naming the side.
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
    try:
        out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ConfigError as exc:
        # `--quiet` leaves git's stderr empty: say what was asked, of which repository.
        raise ConfigError(f"{ref!r} is not a commit of {repo}") from exc
    return out.decode().strip()


def _site_packages(venv: Path) -> Path:
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    return Path(purelib)


def running_site_dirs() -> list[str]:
    """The folders the running interpreter imports its libraries from, in its order.

    Its import path less the standard library: site folders, the folders their `.pth`
    files added, the user's site when enabled. The empty entry (the current folder) and
    anything not a folder are left out.
    """
    stdlib = Path(sysconfig.get_path("stdlib")).resolve()
    dirs: list[str] = []
    for entry in sys.path:
        if not entry or not Path(entry).is_dir():
            continue
        resolved = Path(entry).resolve()
        if stdlib in (resolved, resolved.parent):
            continue  # the standard library and lib-dynload: the ref's venv has its own
        dirs.append(entry)
    return list(dict.fromkeys(dirs))


def install_commit(repo: Path, commit: str, cache: Path) -> tuple[str, Path, frozenset[str]]:
    """(python, src, settings fields) of `commit`, installed once under `cache/<commit>`."""
    target = cache / commit
    src, venv = target / "src", target / "venv"
    python = venv / "bin" / "python"
    if (target / _READY).is_file() and python.exists():
        return str(python), src, probe(str(python), src)[1]
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:12]}-", dir=cache))
    try:
        archive = _git(repo, "archive", "--format=tar", commit)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(staging / "src", filter="data")
        if not (staging / "src" / "poolbench" / "__init__.py").is_file():
            raise ConfigError(f"commit {commit[:12]} holds no poolbench/__init__.py")
        done = subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(staging / "venv")],
            capture_output=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise ConfigError(
                f"python -m venv failed: {done.stderr.decode(errors='replace').strip()}"
            )
        site_dir = _site_packages(staging / "venv")
        site_dir.mkdir(parents=True, exist_ok=True)
        # The final location, not the staging one: the folder is renamed below. The
        # export comes first, so an installed poolbench in a site folder never shadows it.
        lines = [str(src), *running_site_dirs()]
        (site_dir / "poolbench-compare.pth").write_text("\n".join(lines) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    try:
        _version, fields = probe(str(python), src)
    except RunError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    (target / _READY).write_text(commit + "\n")
    return str(python), src, fields


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
    try:
        python, src, fields = install_commit(repo, commit, cache)
    except (ConfigError, RunError) as exc:
        raise ConfigError(
            f"side {name} ({spec.value}, {commit[:7]}) cannot be installed: {exc}"
        ) from exc
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
