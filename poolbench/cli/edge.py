"""The CLI's edge: how an error reaches the user. One line on stderr, one format.

Free of typer, so the lean consumer process (`poolbench.cli.consume_run`) uses it too.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from poolbench.cli import exit_codes
from poolbench.errors import ConfigError, PoolbenchError

PREFIX = "poolbench: error: "


def print_error(message: object) -> None:
    """`poolbench: error: MESSAGE` on stderr, flushed (the process may exit next).

    A message of several lines (every problem of a scenario file) keeps the prefix on its
    first line and indents the others under it.
    """
    first, *rest = str(message).splitlines() or [""]
    text = "\n".join([f"{PREFIX}{first}", *(f"  {line.strip()}" for line in rest)])
    print(text, file=sys.stderr, flush=True)


def report(exc: PoolbenchError) -> int:
    """Print an error poolbench raised on purpose; its exit code (a bug is re-raised)."""
    code = exit_codes.for_error(exc)
    if code is None:
        raise exc
    print_error(exc)
    return code


@contextlib.contextmanager
def flag(name: str) -> Iterator[None]:
    """Locate a `ConfigError` raised inside the block at the flag `name`, unless the
    library already said where the value came from."""
    try:
        yield
    except ConfigError as exc:
        if exc.where:
            raise
        raise exc.at(name) from exc


def option_flags(command: Callable[..., Any]) -> dict[str, str]:
    """Each option of a typer command by parameter name -> its long flag, read from the
    command's own option table (its signature): `max_connections` -> `--max-connections`."""
    flags: dict[str, str] = {}
    for name, parameter in inspect.signature(command).parameters.items():
        decls = getattr(parameter.default, "param_decls", None)
        if decls is None:  # not a typer option (the context, say)
            continue
        long = [decl for decl in decls if decl.startswith("--")]
        flags[name] = long[0] if long else "--" + name.replace("_", "-")
    return flags


def field_flags(
    command: Callable[..., Any], renamed: Mapping[str, str | tuple[str, ...]]
) -> dict[str, str]:
    """A library's field names (`ConfigError.what`) -> the flags of `command` that set
    them: a field is its option's parameter name unless `renamed` maps it to another
    (or to several, shown `--a/--b`, for a rule about their sum)."""
    flags = option_flags(command)
    table = dict(flags)
    for field, parameters in renamed.items():
        names = (parameters,) if isinstance(parameters, str) else parameters
        table[field] = "/".join(flags[name] for name in names)
    return table


@contextlib.contextmanager
def fields(flags: Mapping[str, str]) -> Iterator[None]:
    """Locate a `ConfigError` raised inside the block at the flag that sets its field
    (`flags`, from `field_flags`), naming its related fields by their flags too; an
    error about no flag's field passes unchanged."""
    try:
        yield
    except ConfigError as exc:
        flag = flags.get(exc.what)
        if flag is None:
            raise
        names = {name: flags[name] for name in exc.related if name in flags}
        raise exc.at(flag, names=names) from exc


def writable_directory(path: Path, *, what: str) -> Path:
    """`path`, created; a `ConfigError` naming `what` (the flag) when it cannot be written.

    Called before any load starts, so a run never measures for minutes and then finds it
    cannot write.
    """
    _not_under_a_file(path, what=what)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".poolbench-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write results to {path}: {exc.strerror or exc}") from exc
    return path


def writable_file(path: Path, *, what: str) -> Path:
    """`path` can be written as a file (its folder is created); else a `ConfigError`."""
    if path.is_dir():
        raise ConfigError(f"{what}: {path} is a folder, not a file")
    writable_directory(path.parent, what=what)
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what}: cannot write {path}: permission denied")
    return path


def _not_under_a_file(path: Path, *, what: str) -> None:
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what}: {parent} is a file, not a folder")
            return


def remove_empty_run_folder(directory: Path, *, up_to: Path) -> None:
    """Remove a run's folder that holds no results, and the folders above it that it
    leaves empty, up to (not including) `up_to`: a run that measured nothing leaves no
    trace in the results tree."""
    shutil.rmtree(directory, ignore_errors=True)
    stop = up_to.resolve()
    for parent in directory.resolve().parents:
        if parent == stop or stop not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


@contextlib.contextmanager
def removed_if_empty(directory: Path, *, up_to: Path) -> Iterator[None]:
    """The run's folder is removed (`remove_empty_run_folder`) when the block fails
    before any result was written into it."""
    try:
        yield
    except BaseException:
        if not (directory / "results.json").exists():
            remove_empty_run_folder(directory, up_to=up_to)
        raise
