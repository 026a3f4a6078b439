"""The CPU cost of an email: the arithmetic on counter readings, then the sampler and the
CPU-bound verdict against real processes (one whose thread is kept busy, one idle)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from poolbench.run.cpu_cost import EXITED_THREADS, cpu_bound, cpu_costs
from poolbench.run.figures import LoadMode
from poolbench.run.sampler import Sampler
from poolbench.run.samples import ProcessCpu, ProcessSample, ThreadCpu, Window

MS = 1_000_000


def _sample(t_ns: int, *processes: ProcessCpu, role: str = "consumer") -> ProcessSample:
    return ProcessSample(
        t_ns=t_ns, role=role, rss_bytes=1, cpu_percent=0.0, cpu=processes, cpu_t_ns=t_ns
    )


def _proc(pid: int, total: int, *threads: tuple[int, str, int]) -> ProcessCpu:
    return ProcessCpu(
        pid=pid,
        cpu_ns=total,
        threads=tuple(ThreadCpu(tid=t, name=n, cpu_ns=c) for t, n, c in threads),
    )


def test_cost_is_counter_difference_over_emails_of_the_same_interval() -> None:
    window = Window(start_ns=1000 * MS, end_ns=5000 * MS)
    samples = [
        # Outside the window: ignored.
        _sample(500 * MS, _proc(10, 1 * MS, (10, "python", 1 * MS))),
        _sample(
            1200 * MS,
            _proc(
                10,
                100 * MS,
                (10, "python", 60 * MS),
                (11, "poolbench-poll", 20 * MS),
                (12, "worker", 20 * MS),
            ),
        ),
        _sample(
            3000 * MS,
            _proc(10, 400 * MS, (10, "python", 300 * MS), (11, "poolbench-poll", 50 * MS)),
        ),
        # Thread 12 exited; thread 13 is new; a second process appeared.
        _sample(
            4800 * MS,
            _proc(
                10,
                700 * MS,
                (10, "python", 500 * MS),
                (11, "poolbench-poll", 80 * MS),
                (13, "worker", 30 * MS),
            ),
            _proc(20, 40 * MS, (20, "sh", 40 * MS)),
        ),
        _sample(5100 * MS, _proc(10, 9000 * MS)),
    ]
    # Emails received: 3 before the first reading, 7 inside [1200, 4800), 2 at or after it.
    received = [
        1000 * MS,
        1100 * MS,
        1199 * MS,
        *(1200 * MS + i * 500 * MS for i in range(7)),
        4800 * MS,
        4900 * MS,
    ]
    cost = cpu_costs(samples, window, received)["consumer"]
    assert (cost.start_ns, cost.end_ns) == (1200 * MS, 4800 * MS)
    assert cost.emails == 7
    assert cost.cpu_ns == (700 - 100) * MS + 40 * MS
    assert cost.us_per_email == pytest.approx(640_000 / 7)
    # The main thread of a process with our poll thread is the event loop.
    assert dict(cost.threads) == {
        "event loop": 440 * MS,
        "poolbench-poll": 60 * MS,
        "worker": 30 * MS,  # the new thread, from 0; the exited one is in the residue
        EXITED_THREADS: 600 * MS - 530 * MS,
        "main": 40 * MS,
    }
    assert cost.busiest_thread == "event loop"
    assert cost.busiest_share == pytest.approx(440 / 3600)
    assert cost.processes_exited == 0


def test_no_cost_without_two_readings_and_none_per_email_without_emails() -> None:
    window = Window(start_ns=0, end_ns=10 * MS)
    one = [_sample(5 * MS, _proc(1, 5 * MS))]
    assert cpu_costs(one, window, [1 * MS]) == {}
    two = [_sample(2 * MS, _proc(1, 5 * MS)), _sample(8 * MS, _proc(1, 9 * MS))]
    cost = cpu_costs(two, window, [9 * MS])["consumer"]
    assert cost.emails == 0 and cost.us_per_email is None and cost.cpu_ns == 4 * MS
    gone = [_sample(2 * MS, _proc(1, 5 * MS), _proc(2, 1 * MS)), _sample(8 * MS, _proc(1, 9 * MS))]
    assert cpu_costs(gone, window, [])["consumer"].processes_exited == 1


@pytest.mark.parametrize(("share", "named"), [(0.96, True), (0.9, True), (0.89, False)])
def test_cpu_bound_names_the_busiest_thread_at_90_percent(share: float, named: bool) -> None:
    busy = int(share * 1000) * MS
    samples = [
        _sample(0, _proc(1, 0, (1, "x", 0), (2, "poolbench-poll", 0))),
        _sample(1000 * MS, _proc(1, busy + 5 * MS, (1, "x", busy), (2, "poolbench-poll", 5 * MS))),
        _sample(0, _proc(7, 0, (8, "rdk:broker1", 0)), role="loadgen"),
        _sample(1000 * MS, _proc(7, busy, (8, "rdk:broker1", busy)), role="loadgen"),
    ]
    costs = cpu_costs(samples, Window(start_ns=0, end_ns=2000 * MS), [])
    expected = [
        f"consumer CPU-bound: event loop thread {share:.0%} of a core (over 1.0 s of the "
        "steady-state window)",
        f"load generator CPU-bound: rdk:broker1 thread {share:.0%} of a core (over 1.0 s of "
        "the steady-state window)",
    ]
    assert cpu_bound(costs) == (expected if named else [])


# -- against real processes --

_BUSY_MAIN = textwrap.dedent(
    """
    import threading, time
    def poll():
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write("poolbench-poll")
        time.sleep(3600)
    threading.Thread(target=poll, daemon=True).start()
    print("ready", flush=True)
    while True:
        pass
    """
)


@pytest.fixture
def busy_consumer() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", _BUSY_MAIN], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
        proc.kill()


@pytest.fixture
def idle_sink() -> Iterator[subprocess.Popen[bytes]]:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"]) as proc:
        yield proc
        proc.kill()


def test_a_real_busy_thread_is_named_cpu_bound_and_an_idle_part_is_not(
    busy_consumer: subprocess.Popen[str], idle_sink: subprocess.Popen[bytes]
) -> None:
    sampler = Sampler(interval_s=0.1)
    sampler.watch("consumer", busy_consumer.pid)
    sampler.watch("sink", idle_sink.pid)
    start = time.monotonic_ns()  # the sampler's clock (CLOCK_MONOTONIC, as the receipts)
    with sampler:
        time.sleep(1.5)
    end = time.monotonic_ns()
    stamps = list(range(start, end, 1_000_000))  # one email a millisecond
    costs = cpu_costs(sampler.process_samples(), Window(start_ns=start, end_ns=end), stamps)
    consumer, sink = costs["consumer"], costs["sink"]
    assert consumer.seconds >= 1.0
    # The email count is of the readings' interval exactly, not of the window.
    assert consumer.emails == sum(1 for t in stamps if consumer.start_ns <= t < consumer.end_ns)
    assert consumer.busiest_thread == "event loop"
    # A thread never runs more than the wall time it had (plus the reads' skew).
    assert 0.0 < consumer.busiest_share <= 1.02
    assert consumer.threads["event loop"] <= consumer.cpu_ns
    assert sink.busiest_share < 0.05
    verdicts = cpu_bound(costs)
    assert not any(v.startswith("sink") for v in verdicts)
    # On a machine with a free core the loop gets a whole one; on a crowded one it may
    # not, and then it must not be called CPU-bound.
    named = f"consumer CPU-bound: event loop thread {consumer.busiest_share:.0%} of a core"
    assert any(v.startswith(named) for v in verdicts) == (consumer.busiest_share >= 0.9)


def test_a_point_carries_its_cpu_cost_and_names_a_cpu_bound_part_without_an_ideal() -> None:
    """`measure` with counter readings: a 0 ms sink (no ideal) and a sink thread at 95%
    of a core; the point names it and counts its harness saturated."""
    from poolbench.run.measure import measure
    from tests.run.receipts import T0, S, paced
    from tests.run.test_measure import consumer_samples, inputs

    receipts = paced(100, 10, 0.001)
    readings = [
        _sample(T0 + 3 * S, _proc(50, 0, (50, "python", 0), (51, "poolbench-poll", 0))),
        _sample(
            T0 + 9 * S,
            _proc(50, 600 * MS, (50, "python", 500 * MS), (51, "poolbench-poll", 100 * MS)),
        ),
        _sample(T0 + 3 * S, _proc(60, 0, (60, "python", 0)), role="sink"),
        _sample(T0 + 9 * S, _proc(60, 5700 * MS, (60, "python", 5700 * MS)), role="sink"),
    ]
    m = measure(
        inputs(
            receipts,
            mean_sink_latency_s=0.0,
            offered_per_s=None,
            mode=LoadMode.SATURATE,
            process_samples=[*consumer_samples(12), *readings],
        )
    )
    assert m.ideal_per_s is None
    consumer, sink = m.cpu_costs["consumer"], m.cpu_costs["sink"]
    # 100/s paced: the 6 s between the readings hold 600 emails.
    assert consumer.emails == 600
    assert consumer.us_per_email == pytest.approx(1000.0)
    assert sink.busiest_share == pytest.approx(0.95)
    assert (
        "sink CPU-bound: event loop thread 95% of a core (over 6.0 s of the steady-state window)"
        in m.warnings
    )
    assert not any(w.startswith("consumer CPU-bound: event loop thread") for w in m.warnings)
    assert m.harness_saturated


def test_a_reused_tid_or_pid_counts_as_new_never_negative() -> None:
    window = Window(start_ns=0, end_ns=10 * MS)
    samples = [
        _sample(1 * MS, _proc(5, 900 * MS, (5, "python", 500 * MS), (6, "old", 400 * MS))),
        # Thread 6 exited and a new thread got tid 6; then the whole process was replaced
        # by a new one with the same pid (its counter is below the old one's).
        _sample(9 * MS, _proc(5, 30 * MS, (5, "python", 20 * MS), (6, "new", 10 * MS))),
    ]
    cost = cpu_costs(samples, window, [])["consumer"]
    assert cost.cpu_ns == 30 * MS
    assert dict(cost.threads) == {"main": 20 * MS, "new": 10 * MS}
    tid_only = [
        _sample(1 * MS, _proc(5, 900 * MS, (5, "python", 500 * MS), (6, "old", 400 * MS))),
        _sample(9 * MS, _proc(5, 950 * MS, (5, "python", 520 * MS), (6, "new", 10 * MS))),
    ]
    cost = cpu_costs(tid_only, window, [])["consumer"]
    assert cost.threads["new"] == 10 * MS
    assert cost.threads[EXITED_THREADS] == 50 * MS - 30 * MS


def test_an_interval_from_a_before_reading_to_an_after_one_holds_every_thread() -> None:
    """A thread that ran while the threads were read (1 ms here) can read past the process
    total taken before them; the end of an interval is the total read after them."""
    from poolbench.run.samples import ProcessCpu, ThreadCpu

    start = ProcessCpu(pid=7, cpu_ns=0, threads=(ThreadCpu(tid=7, name="x", cpu_ns=0),))
    end = ProcessCpu(
        pid=7,
        cpu_ns=1_000_000_000,  # read before the thread, which then ran 1 ms more
        threads=(ThreadCpu(tid=7, name="x", cpu_ns=1_001_000_000),),
        cpu_after_ns=1_001_000_500,
    )
    from poolbench.run.cpu_cost import _cost

    cost = _cost("sink", first=[start], last=[end], start_ns=0, end_ns=2_000_000_000, emails=10)
    assert cost.cpu_ns == 1_001_000_500
    assert cost.threads["event loop"] <= cost.cpu_ns


def test_a_cpu_bound_consumer_is_named_once_by_its_busiest_thread() -> None:
    """The process-level rule (harness.py: > 80% of a core per process, short of the
    ideal) and the per-thread one both see this consumer: the point says it once, by the
    thread, which is the more exact of the two."""
    from poolbench.run.measure import measure
    from tests.run.receipts import T0, S, paced
    from tests.run.test_measure import inputs

    receipts = paced(100, 10, 0.001)  # 100/s where 10 workers at 10 ms could do 1,000/s
    busy = [
        ProcessSample(t_ns=T0 + i * S // 4, role="consumer", rss_bytes=1, cpu_percent=97.0)
        for i in range(48)
    ]
    readings = [
        _sample(T0 + 3 * S, _proc(50, 0, (50, "python", 0))),
        _sample(T0 + 9 * S, _proc(50, 5820 * MS, (50, "python", 5820 * MS))),
    ]
    m = measure(
        inputs(
            receipts,
            mean_sink_latency_s=0.01,
            offered_per_s=None,
            mode=LoadMode.SATURATE,
            process_samples=[*busy, *readings],
        )
    )
    named = [w for w in m.warnings if w.startswith("consumer CPU-bound")]
    assert named == [
        "consumer CPU-bound: main thread 97% of a core (over 6.0 s of the steady-state window)"
    ], m.warnings
