"""Child process handling: readiness, stop escalation, and no orphans on any exit."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from poolbench.errors import ConfigError, RunError
from poolbench.orphans import watchdog_pid
from poolbench.run.processes import ProcessSet, ProcessSpec, fill_placeholders, foreign_command

READY_AFTER = """
import sys, time
time.sleep(0.2)
print("consumer ready", file=sys.stderr, flush=True)
time.sleep(60)
"""

IGNORES_TERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""

# Spawns a grandchild in the same group and one that leaves it (its own session), and
# prints their pids.
WITH_GRANDCHILDREN = """
import os, subprocess, sys, time
same = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
away = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                        start_new_session=True)
print(f"pids {same.pid} {away.pid}", flush=True)
time.sleep(60)
"""


def py(name: str, code: str, ready: str | None = None) -> ProcessSpec:
    return ProcessSpec(name=name, argv=(sys.executable, "-c", code), ready_pattern=ready)


@pytest.fixture
def processes() -> Iterator[ProcessSet]:
    with ProcessSet(grace_s=1.0) as started:
        yield started


def assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 5
    alive = pids
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"still running: {alive}")


def test_wait_ready_matches_a_stderr_line_and_stop_terminates(processes: ProcessSet) -> None:
    child = processes.start(py("consumer", READY_AFTER, ready=r"consumer ready"))
    child.wait_ready(timeout=20)
    assert child.running
    assert "consumer ready" in child.output_tail()
    assert child.stop(grace_s=5) == -signal.SIGTERM
    assert not child.running


def test_exit_before_ready_is_a_run_error_with_the_output(processes: ProcessSet) -> None:
    code = "import sys; print('boom: no broker', file=sys.stderr); sys.exit(3)"
    child = processes.start(py("consumer", code, ready="never"))
    with pytest.raises(RunError, match=r"exited with code 3 before it was ready:\nboom: no broker"):
        child.wait_ready(timeout=20)


def test_not_ready_in_time_is_a_run_error(processes: ProcessSet) -> None:
    child = processes.start(py("slow", "import time; time.sleep(60)", ready="ready"))
    with pytest.raises(RunError, match=r"not ready within 0\.3s"):
        child.wait_ready(timeout=0.3)
    assert child.running  # the set stops it


def test_wait_ready_gives_up_when_stopped(processes: ProcessSet) -> None:
    stop = threading.Event()
    child = processes.start(py("slow", "import time; time.sleep(60)", ready="ready"))
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(RunError, match="stopped while waiting"):
        child.wait_ready(timeout=30, stop=stop)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(processes: ProcessSet) -> None:
    child = processes.start(py("stubborn", IGNORES_TERM, ready="ready"))
    child.wait_ready(timeout=20)
    started = time.monotonic()
    assert child.stop(grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.5


def test_grandchildren_are_stopped_too(processes: ProcessSet) -> None:
    child = processes.start(py("parent", WITH_GRANDCHILDREN, ready=r"^pids "))
    child.wait_ready(timeout=20)
    line = next(x for x in child.output_tail().splitlines() if x.startswith("pids "))
    grandchildren = [int(p) for p in line.split()[1:]]
    assert all(psutil.pid_exists(p) for p in grandchildren)
    child.stop(grace_s=1)
    assert_gone([child.pid, *grandchildren])


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_no_orphans_when_the_point_fails(interrupt: type[BaseException]) -> None:
    pids: list[int] = []
    with pytest.raises(interrupt), ProcessSet(grace_s=1.0) as started:
        for n in range(3):
            child = started.start(py(f"c{n}", READY_AFTER, ready="consumer ready"))
            pids.append(child.pid)
        started.start(py("last", "import time; time.sleep(60)")).wait_ready(1)
        raise interrupt("the point failed")
    assert_gone(pids)
    me = psutil.Process()
    left = [p.pid for p in me.children(recursive=True) if p.status() != "zombie"]
    assert [pid for pid in left if pid != watchdog_pid()] == []  # it lives as long as we do


def test_stop_all_reports_exit_codes(processes: ProcessSet) -> None:
    processes.start(py("done", "pass")).wait(20)
    processes.start(py("running", "import time; time.sleep(60)"))
    codes = processes.stop_all()
    assert codes == {"running": -signal.SIGTERM, "done": 0}


def test_a_missing_program_is_a_run_error(processes: ProcessSet) -> None:
    with pytest.raises(RunError, match="cannot start"):
        processes.start(ProcessSpec(name="x", argv=("/nonexistent/consumer",)))


def test_env_and_cwd_reach_the_child(processes: ProcessSet, tmp_path: Path) -> None:
    code = "import os; print(os.environ['POOLBENCH_T'], os.getcwd(), flush=True)"
    spec = ProcessSpec(
        name="env", argv=(sys.executable, "-c", code), env={"POOLBENCH_T": "x1"}, cwd=tmp_path
    )
    child = processes.start(spec)
    assert child.wait(20) == 0
    child.stop()
    assert child.output_tail() == f"x1 {tmp_path}"


def test_foreign_command_fills_placeholders_per_word() -> None:
    argv, env = foreign_command(
        "./messaging-service -workers {workers} -buffer {buffer} -name 'a {smtp_host}'",
        {"KAFKA_BROKERS": "{bootstrap}", "SMTP_PORT": "{smtp_port}", "PLAIN": "x"},
        {
            "workers": 10,
            "buffer": 100,
            "bootstrap": "127.0.0.1:9",
            "smtp_host": "h",
            "smtp_port": 25,
        },
    )
    assert argv == ("./messaging-service", "-workers", "10", "-buffer", "100", "-name", "a h")
    assert env == {"KAFKA_BROKERS": "127.0.0.1:9", "SMTP_PORT": "25", "PLAIN": "x"}


def test_unknown_placeholder_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"consumer.env.X: unknown placeholder \{nope\}"):
        foreign_command("svc", {"X": "{nope}"}, {"workers": 1})
    with pytest.raises(ConfigError, match="bad placeholder syntax"):
        fill_placeholders("{workers", {"workers": 1}, what="consumer.command")
    with pytest.raises(ConfigError, match="empty"):
        foreign_command("  ", {}, {})
