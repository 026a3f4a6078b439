"""Child processes of a run: start, wait until ready, stop, and leave no orphans.

Each child starts in its own session (so its own process group): a Ctrl-C in the
terminal reaches only poolbench, which then stops the children in order, and stopping a
child signals its whole group, grandchildren included. Should poolbench die without
stopping them (SIGKILL, a crash), the kernel's parent-death signal and the watchdog
(`poolbench.orphans`) stop every group it left. Stop is SIGTERM, a grace period,
then SIGKILL; any descendant still alive after that (one that left the group) is killed
by pid. `ProcessSet` is the context manager that guarantees this on any exit, including
an exception or KeyboardInterrupt.

A child's stdout and stderr are read by two threads into bounded buffers (a child that
writes a lot never blocks on a full pipe); readiness is a regular expression matched
against its output lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import string
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

import psutil

from poolbench.errors import ConfigError, RunError
from poolbench.orphans import child_env, guard_group, release_group
from poolbench.redact import redact_text

log = logging.getLogger(__name__)

DEFAULT_GRACE_S: Final = 10.0
_TAIL_LINES: Final = 200
_KILL_WAIT_S: Final = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """What to start. `env` is added to (and overrides) this process's environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_pattern: str | None = None  # a regex on stdout/stderr lines; None: ready at once
    # True: start from a clean environment (PATH, HOME, the locale) plus `env`, so a
    # variable in the user's shell cannot change the process under test.
    clean_env: bool = False
    log_path: Path | None = None  # every line the child writes, also kept in this file
    secrets: tuple[str, ...] = ()  # masked in the log file and the output tail

    def __post_init__(self) -> None:
        if not self.argv:
            raise ConfigError("empty command", what="argv", where=self.name)


# What a process under test keeps of the runner's environment.
_KEPT_VARIABLES: Final = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR")


def base_environment() -> dict[str, str]:
    """PATH, HOME and the locale of this process: the whole inherited environment of a
    process started with `clean_env`."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in _KEPT_VARIABLES or name.startswith("LC_")
    }


class ChildProcess:
    """One started child. Use through `ProcessSet` so it is always stopped."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._ready = threading.Event()
        self._pattern = re.compile(spec.ready_pattern) if spec.ready_pattern else None
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._tail_lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        env = {
            **(base_environment() if spec.clean_env else os.environ),
            **child_env(),  # a poolbench child dies with this process
            **spec.env,
        }
        self._log: IO[str] | None = None
        if spec.log_path is not None:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = spec.log_path.open("w", encoding="utf-8")
        try:
            self._popen = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RunError(f"{spec.name}: cannot start {spec.argv[0]!r}: {exc}") from exc
        guard_group(self._popen.pid)
        self.started_monotonic = time.monotonic()
        if self._pattern is None:
            self._ready.set()
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is None:
                continue
            reader = threading.Thread(
                target=self._read, args=(stream,), name=f"{spec.name}-reader", daemon=True
            )
            reader.start()
            self._readers.append(reader)
        log.debug("started %s (pid %d): %s", spec.name, self.pid, shlex.join(spec.argv))

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self.spec.secrets:
                line = redact_text(line, self.spec.secrets)
            with self._tail_lock:
                self._tail.append(line)
                if self._log is not None:
                    self._log.write(line + "\n")
            pattern = self._pattern
            if pattern is not None and not self._ready.is_set() and pattern.search(line):
                self._ready.set()
        stream.close()

    def output_tail(self, lines: int = 20) -> str:
        """The last lines the child wrote (stdout and stderr interleaved)."""
        with self._tail_lock:
            return "\n".join(list(self._tail)[-lines:])

    def wait_ready(self, timeout: float, *, stop: threading.Event | None = None) -> None:
        """Return once the readiness line appeared; RunError if the child exits, the
        timeout passes or `stop` is set."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if stop is not None and stop.is_set():
                raise RunError(f"{self.spec.name}: stopped while waiting for it to be ready")
            code = self._popen.poll()
            if code is not None:
                # Let the readers finish so the message has the child's last words.
                for reader in self._readers:
                    reader.join(1.0)
                if self._ready.is_set():
                    return
                raise RunError(
                    f"{self.spec.name} exited with code {code} before it was ready:\n"
                    f"{self.output_tail()}"
                )
            if time.monotonic() >= deadline:
                raise RunError(
                    f"{self.spec.name} was not ready within {timeout:g}s "
                    f"(waiting for /{self.spec.ready_pattern}/):\n{self.output_tail()}"
                )

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if still running after `timeout` seconds."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        """Send a signal to the child's whole process group."""
        if self._popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signum)

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> int | None:
        """SIGTERM, wait `grace_s`, then SIGKILL; kill any descendant left. The exit code."""
        descendants = self._descendants()
        if self._popen.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(grace_s) is None:
                log.warning("%s did not stop within %gs; killing it", self.spec.name, grace_s)
                self.signal(signal.SIGKILL)
                self.wait(_KILL_WAIT_S)
        # Kill the group again: a grandchild may outlive its parent in the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)
        for proc in descendants + self._descendants():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(descendants, timeout=_KILL_WAIT_S)
        release_group(self._popen.pid)
        for reader in self._readers:
            reader.join(1.0)
        with self._tail_lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        return self._popen.poll()

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self._popen.pid).children(recursive=True)
        except psutil.Error:
            return []


class ProcessSet:
    """Starts children and stops every one of them (last started first) on exit."""

    def __init__(self, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self._children: list[ChildProcess] = []

    def start(self, spec: ProcessSpec) -> ChildProcess:
        child = ChildProcess(spec)
        self._children.append(child)
        return child

    def __iter__(self) -> Iterator[ChildProcess]:
        return iter(list(self._children))

    def stop_all(self) -> dict[str, int | None]:
        """Stop every child still running; their exit codes by name."""
        codes: dict[str, int | None] = {}
        for child in reversed(self._children):
            codes[child.spec.name] = child.stop(self.grace_s)
        return codes

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A second Ctrl-C while stopping must not leave children behind.
        pending = list(reversed(self._children))
        while pending:
            child = pending[0]
            try:
                child.stop(self.grace_s)
            except KeyboardInterrupt:
                child.signal(signal.SIGKILL)
                child.wait(_KILL_WAIT_S)
            pending.pop(0)


class _StrictMapping(dict[str, str]):
    def __missing__(self, key: str) -> str:
        known = ", ".join("{" + k + "}" for k in sorted(self))
        raise ConfigError(f"unknown placeholder {{{key}}} (known: {known})", what=key)


def fill_placeholders(template: str, values: Mapping[str, object], *, what: str) -> str:
    """`{workers}`-style placeholders filled from `values`; an unknown one is a ConfigError
    located at `what` (the scenario key the template came from)."""
    try:
        return string.Formatter().vformat(
            template, (), _StrictMapping({k: str(v) for k, v in values.items()})
        )
    except ConfigError as exc:
        raise ConfigError(exc.problem, what=what, where=what) from exc
    except (ValueError, IndexError) as exc:
        raise ConfigError(
            f"bad placeholder syntax ({exc})", what=what, where=what, got=template
        ) from exc


def foreign_command(
    command: str,
    env: Mapping[str, str],
    values: Mapping[str, object],
) -> tuple[tuple[str, ...], dict[str, str]]:
    """A foreign consumer's argv and environment with `{workers}`, `{bootstrap}`, ... filled.

    The command is split like a POSIX shell would (no shell runs it), then each word is
    filled, so a value with spaces stays one argument.
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"cannot split it like a shell ({exc})",
            what="consumer.command",
            where="consumer.command",
            got=command,
        ) from exc
    if not words:
        raise ConfigError("empty", what="consumer.command", where="consumer.command")
    argv = tuple(fill_placeholders(w, values, what="consumer.command") for w in words)
    filled = {k: fill_placeholders(v, values, what=f"consumer.env.{k}") for k, v in env.items()}
    return argv, filled
