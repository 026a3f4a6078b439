"""The exact CPU reader against a real process that burns a known amount of CPU.

The burner measures its own threads with `time.thread_time_ns` (the same scheduler
runtime the reader takes from /proc, read from inside); the reader's difference over a
span that encloses the burning must hold the burner's own figure, and exceed it by no
more than what the burner did around its measured spans."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from poolbench.run.cpu_clock import read_process_cpu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux counters")

# A kept thread burns ~150 ms of CPU, a second burns ~100 ms and exits; each reports its
# own CPU time. Commands come on stdin, so the reader's first read is before any burning.
_BURNER = textwrap.dedent(
    """
    import sys, threading, time

    def name_me(name):
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(name)

    def burn(ms, out, name):
        name_me(name)
        start = time.thread_time_ns()
        while time.thread_time_ns() - start < ms * 1_000_000:
            pass
        out[name] = time.thread_time_ns() - start

    spent = {}
    go = threading.Event()
    done = threading.Event()

    def kept():
        go.wait()
        burn(150, spent, "kept")
        done.wait()  # stays alive, idle

    keeper = threading.Thread(target=kept)
    keeper.start()
    print("ready", flush=True)
    sys.stdin.readline()
    go.set()
    quitter = threading.Thread(target=burn, args=(100, spent, "quitter"))
    quitter.start()
    quitter.join()
    while "kept" not in spent:
        time.sleep(0.01)
    print(spent["kept"], spent["quitter"], flush=True)
    sys.stdin.readline()
    done.set()
    keeper.join()
    """
)


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    with proc:
        yield proc
        proc.kill()


def test_the_reader_holds_each_thread_s_own_cpu_and_the_exited_one(
    burner: subprocess.Popen[str],
) -> None:
    assert burner.stdin is not None and burner.stdout is not None
    before = read_process_cpu(burner.pid)
    assert before is not None
    burner.stdin.write("go\n")
    burner.stdin.flush()
    kept_ns, quitter_ns = map(int, burner.stdout.readline().split())
    after = read_process_cpu(burner.pid)
    assert after is not None
    assert kept_ns >= 150_000_000 and quitter_ns >= 100_000_000

    start = {t.tid: t.cpu_ns for t in before.threads}
    live = {t.name: t.cpu_ns - start.get(t.tid, 0) for t in after.threads}
    assert "quitter" not in live  # it exited before the second read
    # The kept thread: its own figure, plus at most what it ran outside its measured
    # span (waking up, naming itself: well under 20 ms).
    assert kept_ns <= live["kept"] <= kept_ns + 20_000_000
    # The process's counter keeps the exited thread's time: the residue holds it.
    total = after.cpu_ns - before.cpu_ns
    exited = total - sum(t.cpu_ns - start.get(t.tid, 0) for t in after.threads)
    assert quitter_ns <= exited <= quitter_ns + 20_000_000
    # And the whole is no less than both burns (the main thread adds its own).
    assert total >= kept_ns + quitter_ns


def test_a_process_that_is_gone_reads_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert read_process_cpu(proc.pid) is None
