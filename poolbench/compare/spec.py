"""What `--a SPEC` and `--b SPEC` name: a git ref, a checkout's path, or a command. Pure.

- `command:CMD`: a foreign consumer, run as the scenario's `consumer.command` would be
  (placeholders such as `{workers}` and `{bootstrap}` are filled);
- an existing folder: a checkout of this project, whose `poolbench` package runs the
  consumer (with this interpreter);
- anything else: a git ref of the repository (`HEAD~1`, `main`, a commit), exported and
  installed into a cached virtual environment (`poolbench.compare.install`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from poolbench.errors import ConfigError

COMMAND_PREFIX = "command:"
Kind = Literal["git", "path", "command"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    text: str  # as given
    kind: Kind
    value: str  # the ref, the folder, or the command


def parse_spec(text: str, *, what: str = "--a", cwd: Path | None = None) -> Spec:
    """Classify a SPEC; a folder must hold a `poolbench` package."""
    stripped = text.strip()
    if not stripped:
        raise ConfigError(f"{what}: empty; give a git ref, a checkout's path or command:CMD")
    if stripped.startswith(COMMAND_PREFIX):
        command = stripped[len(COMMAND_PREFIX) :].strip()
        if not command:
            raise ConfigError(f"{what}: `command:` needs a command after it")
        return Spec(text=text, kind="command", value=command)
    folder = Path(stripped) if cwd is None or Path(stripped).is_absolute() else cwd / stripped
    if folder.is_dir():
        if not (folder / "poolbench" / "__init__.py").is_file():
            raise ConfigError(
                f"{what}: {stripped} is a folder but holds no poolbench/__init__.py "
                "(a checkout of this project is expected)"
            )
        return Spec(text=text, kind="path", value=str(folder.resolve()))
    if stripped.startswith("-") or any(c.isspace() for c in stripped):
        raise ConfigError(f"{what}: {stripped!r} is not a git ref, folder or command:CMD")
    return Spec(text=text, kind="git", value=stripped)


def parse_env(items: list[str] | tuple[str, ...], *, what: str) -> dict[str, str]:
    """`NAME=VALUE` items as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{what}: expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out
