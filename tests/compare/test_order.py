"""The ABBA/BAAB order: balanced, seeded, blocks round the points."""

from __future__ import annotations

import itertools
import random

import pytest

from poolbench.compare.order import run_order, side_sequence


@pytest.mark.parametrize("repeats", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("seed", range(5))
def test_each_side_runs_every_repeat_once(repeats: int, seed: int) -> None:
    runs = run_order(points=3, repeats=repeats, seed=seed)
    assert len(runs) == 3 * 2 * repeats
    for point, side in itertools.product(range(3), "AB"):
        mine = [r.repeat for r in runs if r.point == point and r.side == side]
        assert mine == list(range(repeats))


@pytest.mark.parametrize("seed", range(20))
def test_blocks_are_abba_or_baab(seed: int) -> None:
    sides = "".join(side_sequence(5, random.Random(seed)))
    blocks = [sides[i : i + 4] for i in range(0, 8, 4)]
    assert all(block in ("ABBA", "BAAB") for block in blocks)
    assert sides[8:] in ("AB", "BA")
    # Balanced position: over each full block, A and B have the same mean position.
    for block in blocks:
        assert sum(i for i, s in enumerate(block) if s == "A") == 3


def test_seeded_and_both_orders_occur() -> None:
    assert run_order(2, 4, 1) == run_order(2, 4, 1)
    firsts = {run_order(1, 2, seed)[0].side for seed in range(20)}
    assert firsts == {"A", "B"}


def test_blocks_go_round_the_points() -> None:
    runs = run_order(points=2, repeats=4, seed=0)
    assert [r.point for r in runs] == [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4
