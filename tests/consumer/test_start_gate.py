"""The start gate: how many emails start per event-loop pass, on a real loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from poolbench.consumer.service import new_event_loop
from poolbench.consumer.start_gate import SPREAD, StartGate

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
# asyncio's own loop and the consumer's (uvloop where installed): both run a pass's
# callbacks as queued when it began, which is how the gate sees passes.
LOOPS: list[LoopFactory] = [asyncio.new_event_loop, new_event_loop]


def _starts_by_pass(
    per_pass: int | None,
    tasks: int,
    cancel: frozenset[int] = frozenset(),
    loop_factory: LoopFactory = new_event_loop,
) -> list[list[int]]:
    """Which tasks started in which pass, all asking in the same pass; pass 0 is theirs.

    A ticker re-scheduling itself with `call_soon` counts the passes (the control for the
    gate's own count). `per_pass` None: no gate, every task starts at once.
    """

    async def main() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        gate = None if per_pass is None else StartGate(per_pass)
        passes = [0]
        done = asyncio.Event()

        def tick() -> None:
            passes[0] += 1
            if not done.is_set():
                loop.call_soon(tick)

        started: dict[int, int] = {}

        async def one(n: int) -> None:
            turn = None if gate is None else gate.turn()
            if turn is not None:
                await turn
            started[n] = passes[0]

        await asyncio.sleep(0)
        asked = passes[0]
        runs = [asyncio.ensure_future(one(n)) for n in range(tasks)]
        loop.call_soon(tick)
        await asyncio.sleep(0)  # every task asks in this pass
        for n in cancel:
            runs[n].cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        done.set()
        by_pass: dict[int, list[int]] = {}
        for n, when in sorted(started.items()):
            by_pass.setdefault(when - asked, []).append(n)
        return [by_pass[k] for k in sorted(by_pass)]

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


def test_without_a_gate_a_burst_starts_in_one_pass() -> None:
    assert _starts_by_pass(None, 12) == [list(range(12))]  # the control: the convoy's start


def _rule(per_pass: int, tasks: int) -> list[int]:
    """Starts per pass by the gate's rule: `per_pass` in the askers' pass, then in each
    later pass `per_pass` or 1/SPREAD of those still waiting, whichever is more."""
    sizes = [min(per_pass, tasks)]
    waiting = tasks - sizes[0]
    while waiting:
        sizes.append(min(waiting, max(per_pass, waiting // SPREAD)))
        waiting -= sizes[-1]
    return sizes


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize(("per_pass", "tasks"), [(1, 12), (3, 12), (1, 64)])
def test_a_burst_starts_a_few_per_pass_in_order(
    per_pass: int, tasks: int, loop_factory: LoopFactory
) -> None:
    groups = _starts_by_pass(per_pass, tasks, loop_factory=loop_factory)
    assert [n for group in groups for n in group] == list(range(tasks))  # first come, first go
    assert list(map(len, groups)) == _rule(per_pass, tasks)
    assert max(map(len, groups)) <= max(per_pass, tasks // SPREAD)


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    groups = _starts_by_pass(1, 6, cancel=frozenset({2, 3}))
    assert groups == [[0], [1], [4], [5]]


def test_per_pass_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StartGate(0)
