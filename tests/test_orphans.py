"""Nothing outlives its parent: the parent-death signal and the watchdog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from poolbench.orphans import KILL_AFTER_S

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# A parent that starts two children and leaves a secret and a note with the watchdog.
PARENT = """
import os, subprocess, sys, time
from pathlib import Path
from poolbench import orphans

folder = Path(sys.argv[1])
secret = folder / "private"
secret.mkdir(mode=0o700)
(secret / "consumer-0.settings.json").write_text("{}")
orphans.guard_path(secret)
orphans.note_if_killed(folder / "KILLED.txt", "the parent was killed")
# One child ignores SIGTERM and does not arm the parent-death signal: the watchdog's
# SIGKILL must end it. The other arms it and is not guarded: the kernel alone must end it.
stubborn = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
     "signal.SIG_IGN); print('up', flush=True); time.sleep(120)"],
    start_new_session=True, stdout=subprocess.PIPE, text=True,
)
orphans.guard_group(stubborn.pid)
armed = subprocess.Popen(
    [sys.executable, "-c", "from poolbench.orphans import arm_parent_death; "
     "arm_parent_death(); import time; print('up', flush=True); time.sleep(120)"],
    start_new_session=True, stdout=subprocess.PIPE, text=True,
    env={**os.environ, **orphans.child_env()},
)
for child in (stubborn, armed):
    assert child.stdout.readline().strip() == "up"
print(stubborn.pid, armed.pid, orphans.watchdog_pid(), flush=True)
time.sleep(120)
"""


def test_a_killed_parent_leaves_no_child_no_secret_and_a_note(tmp_path: Path) -> None:
    env = {**ENV, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    children: list[psutil.Process] = []
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        stubborn, armed, watchdog = (int(word) for word in line.split())
        children = [psutil.Process(pid) for pid in (stubborn, armed, watchdog)]
        assert (tmp_path / "private" / "consumer-0.settings.json").exists()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        # Everyone is gone within the watchdog's SIGTERM-then-SIGKILL bound, and then some.
        _gone, left = psutil.wait_procs(children, timeout=KILL_AFTER_S + 8)
        assert left == []
        assert not (tmp_path / "private").exists()
        assert (tmp_path / "KILLED.txt").read_text().rstrip().endswith("the parent was killed")
    finally:
        for child in children:
            if child.is_running():
                child.kill()
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def test_the_parent_death_signal_alone_ends_an_armed_child(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "from poolbench import orphans\n"
        "c = subprocess.Popen([sys.executable, '-c', 'from poolbench.orphans import "
        "arm_parent_death; arm_parent_death(); import time; print(1, flush=True); "
        "time.sleep(120)'], env=orphans.child_env(), stdout=subprocess.PIPE, text=True,"
        " start_new_session=True)\n"
        "c.stdout.readline(); print(c.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        # No watchdog in this parent (nothing was guarded): only the kernel ends it.
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        child.wait(10)  # psutil.TimeoutExpired if it lived on
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
