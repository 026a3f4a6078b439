"""The order of a compare's runs: balanced, seeded blocks of ABBA and BAAB. Pure.

Each point gets `repeats` runs per side in blocks of four, each block ABBA or BAAB by a
seeded coin, so a linear drift over a block lands equally on both sides and neither side
always goes first; an odd repeat count ends with AB or BA. Blocks go round the points
(block 1 of every point, then block 2, ...), so slow drift spreads over the points too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Side = Literal["A", "B"]


@dataclass(frozen=True, slots=True)
class Run:
    point: int  # index of the point in the scenario's expansion
    side: Side
    repeat: int  # 0-based, per point and side


def side_sequence(repeats: int, rng: random.Random) -> list[Side]:
    """2 x `repeats` sides: ABBA/BAAB blocks, then AB or BA when `repeats` is odd."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    out: list[Side] = []
    for _ in range(repeats // 2):
        out.extend(("A", "B", "B", "A") if rng.random() < 0.5 else ("B", "A", "A", "B"))
    if repeats % 2:
        out.extend(("A", "B") if rng.random() < 0.5 else ("B", "A"))
    return out


def run_order(points: int, repeats: int, seed: int) -> list[Run]:
    """Every run of a compare, in the order to run them."""
    rng = random.Random(seed)
    sequences = [side_sequence(repeats, rng) for _ in range(points)]
    counters = [{"A": 0, "B": 0} for _ in range(points)]
    runs: list[Run] = []
    for start in range(0, 2 * repeats, 4):
        for point, sides in enumerate(sequences):
            for side in sides[start : start + 4]:
                runs.append(Run(point=point, side=side, repeat=counters[point][side]))
                counters[point][side] += 1
    return runs
