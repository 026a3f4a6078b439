"""Nothing outlives the process that started it: no child, no secret on disk.

A handler in the parent is not enough: SIGKILL, a crash or a hang-up in the wrong place
skip it. Two layers that need no cooperation from the dying parent:

1. The kernel's parent-death signal (prctl PR_SET_PDEATHSIG): SIGTERM to a poolbench
   child the moment its parent dies. The child arms it itself at start
   (`arm_parent_death`, told its parent by `child_env()`); it survives `execve` (`consume`
   execs the lean consumer). It fires when the parent THREAD that created the child
   exits, so only children started by the main thread are told to arm it.
2. The watchdog: one small process per parent, in a session of its own (no terminal or
   group signal reaches it), holding a pipe from the parent. The parent tells it the
   process groups it started and the paths that hold secrets (`guard_group`,
   `guard_path`) and takes them back once it has stopped or removed them. When the pipe
   closes or its parent changes (the parent is gone, however it went), it sends SIGTERM to
   every group left, SIGKILL `KILL_AFTER_S` later, removes every path left, and exits.

The watchdog imports nothing but the standard library, so it starts in a few ms.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

log = logging.getLogger(__name__)

# Every child must honour SIGTERM within this; then it is killed.
KILL_AFTER_S: Final = 2.0
_PR_SET_PDEATHSIG: Final = 1
_POLL_S: Final = 0.25
PARENT_ENV: Final = "POOLBENCH_DIE_WITH_PARENT"
# In a run's results folder: written by the watchdog when the runner was killed.
KILLED_NOTE: Final = "KILLED.txt"

try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def child_env() -> dict[str, str]:
    """The variable that has a poolbench child arm the parent-death signal against this
    process (`arm_parent_death`); empty where that cannot hold (not Linux, or not the
    main thread, whose exit would fire it), leaving it to the watchdog."""
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return {}
    return {PARENT_ENV: str(os.getpid())}


def arm_parent_death() -> None:
    """In a poolbench child started with `child_env()`: SIGTERM to this process when its
    parent dies. Called first thing by `python -m poolbench` (not in a `preexec_fn`,
    which is unsafe in a parent with threads); the variable is not passed on."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._pid = 0

    def _pipe(self) -> IO[str]:
        if self._process is None or self._pid != os.getpid() or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from poolbench.orphans import watch; watch()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                start_new_session=True,
                cwd="/",
                env={**os.environ, "PYTHONPATH": _package_root()},
            )
            self._pid = os.getpid()
        assert self._process.stdin is not None
        return self._process.stdin

    def tell(self, line: str) -> None:
        """Never raises: a watchdog that cannot start leaves the parent-death signal and
        the parent's own stopping, and must not fail the child just started."""
        with self._lock:
            for _attempt in range(2):
                try:
                    self._pipe().write(line + "\n")
                except OSError as exc:  # it died: start another, and say it again
                    self._process = None
                    failure = exc
                else:
                    return
            log.warning("the watchdog could not be told %r: %s", line, failure)

    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid


_WATCHDOG = _Watchdog()


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


def guard_group(pgid: int) -> None:
    """Process group `pgid` (a child started in a session of its own) is stopped if this
    process dies before `release_group(pgid)`."""
    _WATCHDOG.tell(f"+group {pgid}")


def release_group(pgid: int) -> None:
    """The group is stopped: forget it (its number may be reused)."""
    _WATCHDOG.tell(f"-group {pgid}")


def guard_path(path: Path) -> None:
    """`path` (a file or folder holding a secret) is removed if this process dies first."""
    _WATCHDOG.tell(f"+path {path}")


def release_path(path: Path) -> None:
    _WATCHDOG.tell(f"-path {path}")


def note_if_killed(path: Path, text: str) -> None:
    """Should this process die before `release_note(path)`, the watchdog writes `text`
    (one line, with the time) to `path`: a results folder says the runner was killed."""
    _WATCHDOG.tell(f"+note {path}\t{' '.join(text.split())}")


def release_note(path: Path) -> None:
    _WATCHDOG.tell(f"-note {path}")


@contextlib.contextmanager
def noted_if_killed(path: Path, text: str) -> Iterator[None]:
    """`note_if_killed` while the block runs; taken back however the block ends."""
    note_if_killed(path, text)
    try:
        yield
    finally:
        release_note(path)


def watchdog_pid() -> int | None:
    """The watchdog's process id, once one runs (tests look for it)."""
    return _WATCHDOG.pid()


def watch() -> None:
    """The watchdog's main loop (in its own process); see the module's docstring."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    parent = os.getppid()
    groups: set[int] = set()
    paths: set[str] = set()
    notes: dict[str, str] = {}
    buffered = ""
    stdin = sys.stdin.fileno()
    while os.getppid() == parent:
        ready, _, _ = select.select([stdin], [], [], _POLL_S)
        if not ready:
            continue
        chunk = os.read(stdin, 65536).decode("utf-8", "replace")
        if not chunk:
            break  # the parent closed the pipe: it exited or was killed
        buffered += chunk
        *lines, buffered = buffered.split("\n")
        for line in lines:
            _apply(line, groups, paths, notes)
    clean_up(groups, paths)
    _write_notes(notes)


def _apply(line: str, groups: set[int], paths: set[str], notes: dict[str, str]) -> None:
    """One line of the parent: `+group 123`, `-group 123`, `+path /tmp/x`, `-path /tmp/x`,
    `+note /results/x/KILLED.txt<TAB>text`, `-note /results/x/KILLED.txt`."""
    command, _, value = line.partition(" ")
    if command == "+note":
        path, _, text = value.partition("\t")
        notes[path] = text
    elif command == "-note":
        notes.pop(value, None)
    elif command == "+group":
        groups.add(int(value))
    elif command == "-group":
        groups.discard(int(value))
    elif command == "+path":
        paths.add(value)
    elif command == "-path":
        paths.discard(value)


def clean_up(groups: set[int], paths: set[str]) -> None:
    """SIGTERM every group, SIGKILL what is left after `KILL_AFTER_S`; remove the paths."""
    for path in paths:  # first: a secret must not outlive even a stubborn child
        _remove(path)
    alive = {pgid for pgid in groups if _signal_group(pgid, signal.SIGTERM)}
    deadline = time.monotonic() + KILL_AFTER_S
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pgid for pgid in alive if _signal_group(pgid, 0)}
    for pgid in alive:
        _signal_group(pgid, signal.SIGKILL)
    for path in paths:  # again: a child may have written there meanwhile
        _remove(path)


def _write_notes(notes: dict[str, str]) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for path, text in notes.items():
        with contextlib.suppress(OSError):
            Path(path).write_text(f"{stamp} {text}\n")


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
