"""The one clock of cross-process stamps (`poolbench.metrics.clock.stamp_ns`)."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import poolbench
from poolbench.metrics.clock import (
    WALL_MAGNITUDE_NS,
    ClockPair,
    ManualClock,
    SystemClock,
    clock_pair,
    on_wall_clock,
    stamp_ns,
)

PACKAGE = Path(poolbench.__file__).parent
# Reading these anywhere but in metrics/clock.py could put a stamp on another clock.
_CLOCK_READS = frozenset({"time_ns", "monotonic_ns", "clock_gettime_ns"})
# Per-thread and per-process CPU clocks (`cpu_clock`) are not time stamps.
_CPU_CLOCK_MODULE = PACKAGE / "run" / "cpu_clock.py"


def _clock_reads(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """`time.<read>` attributes and `from time import <read>` names in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _CLOCK_READS
            and isinstance(node.value, ast.Name)
            and node.value.id == "time"
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}: time.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [
                f"{path.relative_to(root)}:{node.lineno}: from time import {a.name}"
                for a in node.names
                if a.name in _CLOCK_READS
            ]
    return found


def test_every_stamp_and_wall_reading_goes_through_the_clock_module() -> None:
    modules = [
        p
        for p in PACKAGE.rglob("*.py")
        if p != PACKAGE / "metrics" / "clock.py" and p != _CPU_CLOCK_MODULE
    ]
    assert len(modules) > 100
    offenders = [line for path in modules for line in _clock_reads(path)]
    assert offenders == []


def test_the_rule_finds_a_direct_reading(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import time\nfrom time import monotonic_ns\nx = time.time_ns()\n")
    assert sorted(_clock_reads(module, tmp_path)) == [
        "m.py:2: from time import monotonic_ns",
        "m.py:3: time.time_ns",
    ]


def test_stamps_are_clock_monotonic() -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    stamp = stamp_ns()
    system = SystemClock().stamp_ns()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert before <= stamp <= system <= after
    assert not on_wall_clock(stamp)
    assert on_wall_clock(time.time_ns())


def test_a_clock_pair_puts_stamps_on_the_wall_clock_read_with_it() -> None:
    pair = clock_pair()
    wall_now = time.time_ns()
    # The pair's wall reading is at most the time of this test late.
    assert pair.wall_ns <= wall_now
    assert abs(pair.to_wall(stamp_ns()) - time.time_ns()) < 50_000_000
    fixed = ClockPair(wall_ns=WALL_MAGNITUDE_NS + 10, monotonic_ns=3)
    assert fixed.to_wall(5) == WALL_MAGNITUDE_NS + 12
    assert fixed.to_monotonic(fixed.to_wall(123)) == 123


def test_a_wall_step_moves_no_stamp() -> None:
    clock = ManualClock()
    clock.advance(2.0)
    before = (clock.stamp_ns(), clock.wall_ns())
    clock.step_wall(-3600.0)
    assert clock.stamp_ns() == before[0]
    assert clock.wall_ns() == before[1] - 3_600_000_000_000
