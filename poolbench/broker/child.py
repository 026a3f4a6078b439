"""A `python -m poolbench ...` child in its own process group, stopped without orphans.

Used by `BrokerProcess` and `LoadProcess`. The child starts a new session, so stopping
signals its whole group; stop is SIGTERM, a grace period, then SIGKILL. Its stdout is
read line by line (readiness, control answers) by a thread into a queue, and its stderr
into a bounded tail for error messages, so a chatty child never blocks on a full pipe.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import IO, Final

from poolbench.orphans import child_env, guard_group, release_group

_TAIL_LINES: Final = 50
_KILL_WAIT_S: Final = 5.0


def poolbench_argv(*args: str) -> list[str]:
    """The command line of `poolbench ARGS` with this interpreter."""
    return [sys.executable, "-m", "poolbench", *args]


class Child:
    """One started child process; `stop()` is idempotent and always leaves none behind."""

    def __init__(self, argv: Sequence[str], *, stdin: bool = False) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
            env={**os.environ, **child_env()},  # it dies with this process
        )
        guard_group(self._popen.pid)  # stopped even if this process dies first
        assert self._popen.stdout is not None and self._popen.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(self._popen.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._popen.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._tail.append(line.rstrip("\n"))

    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    def read_line(self, timeout: float) -> str | None:
        """The next stdout line; None when stdout closed or `timeout` passed."""
        try:
            return self._lines.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def write_line(self, text: str) -> None:
        stdin = self._popen.stdin
        if stdin is None:
            raise RuntimeError("this child has no stdin pipe")
        stdin.write(text + "\n")
        stdin.flush()

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None if still running after `timeout` seconds."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        """Send `signum` to the child's process group (nothing if it has exited)."""
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._popen.pid, signum)

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the group, wait `grace_s`, then SIGKILL; return the exit code."""
        if self._popen.poll() is None:
            self.signal(signal.SIGTERM)
            if self.wait(grace_s) is None:
                self.signal(signal.SIGKILL)
                self.wait(_KILL_WAIT_S)
        # Grandchildren left in the group (the child itself has exited): kill them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)
        release_group(self._popen.pid)
        if self._popen.stdin is not None:
            with contextlib.suppress(OSError):
                self._popen.stdin.close()
        deadline = time.monotonic() + _KILL_WAIT_S
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self._popen.poll()
