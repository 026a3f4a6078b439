"""Priority lanes of the worker pool: three bounded queues and a weighted round robin.

A pool built with a `LaneConfig` keeps one queue per `Lane`, each with its own number of
slots, so a flood in one lane never takes the room of another. Workers take from the
highest non-empty lane that still has credit in the current round; a round gives each
lane as many takes as its weight (default 8:4:1), and a new round starts when no
non-empty lane has credit left. With every lane backlogged the takes go
8 high, 4 normal, 1 low, again and again; an empty lane's credit is not spent, so the
others keep the workers busy. Once a job is first in its lane, at most
`2 * (sum of the other lanes' weights)` other takes come before it (the rest of this
round, then the higher lanes' turns in the next), whatever floods the other lanes.

Every job costs the same credit (one take), so this is deficit round robin with a
quantum of one job per weight unit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Generic, TypeVar

from poolbench.errors import InvalidPoolSizeError

T = TypeVar("T")


class Lane(IntEnum):
    """A job's lane; the value is the index in per-lane tuples (highest priority first)."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


LANES: Final = (Lane.HIGH, Lane.NORMAL, Lane.LOW)
DEFAULT_LANE_WEIGHTS: Final = (8, 4, 1)


def _check_triple(name: str, value: object, minimum: int) -> tuple[int, int, int]:
    if not isinstance(value, tuple) or len(value) != len(LANES):
        raise InvalidPoolSizeError(
            f"lane {name} must be three integers (high, normal, low), got {value!r}"
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise InvalidPoolSizeError(
                f"lane {name} must be integers of at least {minimum}, got {value!r}"
            )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneConfig:
    """How a pool shares its workers and its buffer between the lanes.

    `weights`: takes per round of high, normal and low when all three are backlogged.
    `buffers`: slots of each lane; None shares the pool's `buffer` by weight (each lane
    gets `ceil(buffer * weight / sum(weights))`, so every lane has at least one slot when
    the buffer has any, and the total exceeds `buffer` by at most two).
    """

    weights: tuple[int, int, int] = DEFAULT_LANE_WEIGHTS
    buffers: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        _check_triple("weights", self.weights, 1)
        if self.buffers is not None:
            _check_triple("buffers", self.buffers, 0)

    def lane_buffers(self, buffer: int) -> tuple[int, int, int]:
        """The slots of each lane in a pool of `buffer` slots."""
        if self.buffers is not None:
            return self.buffers
        total = sum(self.weights)
        high, normal, low = (-(-buffer * weight // total) for weight in self.weights)
        return (high, normal, low)


class LaneQueues(Generic[T]):
    """Three bounded FIFO queues and the weighted round robin that picks the next item.

    Pure (no event loop), so the order can be tested step by step. `popleft` must only
    be called when `any_queued()` is true.
    """

    __slots__ = ("_credits", "buffers", "queues", "weights")

    def __init__(self, weights: tuple[int, int, int], buffers: tuple[int, int, int]) -> None:
        self.weights = weights
        self.buffers = buffers
        self.queues: tuple[deque[T], deque[T], deque[T]] = (deque(), deque(), deque())
        # Takes left to each lane in the current round.
        self._credits = list(weights)

    def has_room(self, lane: Lane) -> bool:
        return len(self.queues[lane]) < self.buffers[lane]

    def append(self, lane: Lane, item: T) -> bool:
        """Queue an item at the end of its lane; False (and not queued) when it is full."""
        queue = self.queues[lane]
        if len(queue) >= self.buffers[lane]:
            return False
        queue.append(item)
        return True

    def any_queued(self) -> bool:
        high, normal, low = self.queues
        return bool(high or normal or low)

    def __len__(self) -> int:
        high, normal, low = self.queues
        return len(high) + len(normal) + len(low)

    def popleft(self) -> T:
        """The next item by weighted round robin (unrolled: it runs once per job)."""
        credits = self._credits
        high, normal, low = self.queues
        while True:
            if high and credits[0]:
                credits[0] -= 1
                return high.popleft()
            if normal and credits[1]:
                credits[1] -= 1
                return normal.popleft()
            if low and credits[2]:
                credits[2] -= 1
                return low.popleft()
            if not (high or normal or low):
                raise IndexError("pop from empty lanes")
            # Every non-empty lane spent its credit: a new round.
            credits[0], credits[1], credits[2] = self.weights

    def drain(self) -> Iterator[T]:
        """Remove and yield every queued item, high lane first (for abandoning)."""
        for queue in self.queues:
            while queue:
                yield queue.popleft()
