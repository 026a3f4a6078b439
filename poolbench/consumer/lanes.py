"""Priority lanes for the consumer: which lane an event goes to, and a bounded commit window.

Pure (no Kafka, no event loop), so the consumer's second round only wires it in.

Design: bounded commit gap per partition
----------------------------------------
Offsets are committed only when contiguous (`offsets.PartitionOffsets`), and a partition
mixes priorities. With lanes, the jobs behind a low-priority email in the same partition
(often high ones) finish first, but the commit position stays at the low one until it
ends. Left alone, the uncommitted window grows without bound: everything above that
offset is sent again after a crash, and the finished offsets above it pile up in memory.

`CommitGate` bounds that window. It lets an offset be dispatched only while it lies less
than `max_gap` offsets above the partition's lowest unfinished one; a later message is
held back (not dispatched, not tracked) and the consumer pauses that partition's fetching,
and only that partition's. Each finished job may move the lowest unfinished offset up;
the held messages that fit again are released in order, and once none is held the
partition is resumed. Meanwhile the pool's weighted round robin guarantees the low job at
the head of the window is taken after a bounded number of takes (`poolbench.pool.lanes`),
so the window always drains.

Trade-off. At-least-once is kept: the commit position never passes an unfinished offset,
and held messages were never dispatched, so a kill loses nothing. The price is bounded
duplication: after a crash at most `max_gap - 1` finished emails per partition are sent
again (those inside the window above its unfinished head); and while a slow low email
holds the head, at most `max_gap - 1` later offsets of that partition run ahead of it,
after which that partition (not the others) waits for it. Memory stays bounded too:
at most `max_gap` tracked jobs per partition, plus what one fetched batch held back.

Rejected alternatives: per-priority topics would make ordering and commits trivial but
need the producers (the Go service's too) to route by priority; committing per lane is
impossible with one committed offset per partition and group; and reordering at intake
without a bound is the unbounded window described above.

A full lane pauses nothing by itself: a job whose lane is full waits in that lane's
`LaneBacklog` (already dispatched, so counted in the window), and the gate of each
partition feeding it pauses that partition once its window is used up. Since every
partition may feed every lane, pausing "the partitions of a full lane" directly would
pause them all on the first low flood and stall high mail, the very thing lanes prevent.

Settings (for `consumer/settings.py`, not added here): `--priority-lanes on|off`
(`POOLBENCH_PRIORITY_LANES`, default off: one FIFO, the seed's behaviour) and
`--lane-weights 8:4:1` (`POOLBENCH_LANE_WEIGHTS`, parsed by `parse_lane_weights`). The
window is `default_max_gap(workers, buffer)` unless a setting says otherwise.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final, Generic, TypeVar

from poolbench.consumer.offsets import PartitionOffsets
from poolbench.errors import ConfigError
from poolbench.pool import LANES, Lane

T = TypeVar("T")

DEFAULT_LANE_WEIGHTS_TEXT: Final = "8:4:1"
# The commit window is at least this many offsets, whatever the pool's size.
MIN_MAX_GAP: Final = 64

_LANE_OF_PRIORITY: Final = {"high": Lane.HIGH, "normal": Lane.NORMAL, "low": Lane.LOW}
# `"priority": "<word>"` not preceded by a backslash (i.e. a key, not inside a string).
_PRIORITY_FIELD: Final = re.compile(rb'(?<!\\)"priority"\s*:\s*"([A-Za-z]*)"')


def parse_lane_weights(value: object, where: str = "--lane-weights") -> tuple[int, int, int]:
    """`"8:4:1"` -> `(8, 4, 1)`: the takes per round of high, normal and low.

    Also takes the tuple (or, from a settings file, the list) it returns. `ConfigError`
    names `where`.
    """
    if isinstance(value, tuple | list) and len(value) == len(LANES):
        parts: list[object] = list(value)
    elif isinstance(value, str):
        parts = [part.strip() for part in value.strip().split(":")]
    else:
        parts = []
    weights: list[int] = []
    for part in parts:
        if isinstance(part, str) and part.isascii() and part.isdigit():
            weights.append(int(part))
        elif isinstance(part, int) and not isinstance(part, bool):
            weights.append(part)
        else:
            break
    if len(weights) != len(LANES) or len(parts) != len(LANES) or min(weights) < 1:
        raise ConfigError(
            f"{where}: expected three positive integers high:normal:low, got {value!r}"
        )
    return (weights[0], weights[1], weights[2])


def lane_of(priority: str | None) -> Lane:
    """The lane of an event's `message.priority`; unknown or missing -> normal."""
    if priority is None:
        return Lane.NORMAL
    return _LANE_OF_PRIORITY.get(priority, Lane.NORMAL)


def priority_of(value: bytes | None) -> str | None:
    """An event's `message.priority` read from the raw Kafka value, without decoding it all.

    The lane must be known when the message is dispatched, but the event is decoded later,
    in the worker (delivery.py), so a regex finds the field (a key: a `"priority"` inside
    a JSON string has escaped quotes). When it appears more than once (e.g. also as a key
    inside `data`) the value is decoded to be sure. None when absent or unreadable (then
    the lane is normal; the worker dead-letters a malformed event as before). One corner
    is knowingly approximate: an event without its own priority but with a `priority`
    key inside `data` gets that key's lane; only scheduling depends on it.
    """
    if not value:
        return None
    found = _PRIORITY_FIELD.findall(value)
    if len(found) == 1:
        word: bytes = found[0]
        return word.decode("ascii")
    if not found:
        return None
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    message = doc.get("message") if isinstance(doc, dict) else None
    priority = message.get("priority") if isinstance(message, dict) else None
    return priority if isinstance(priority, str) else None


def lane_of_value(value: bytes | None) -> Lane:
    """The lane of a raw Kafka message value (`lane_of(priority_of(value))`)."""
    return lane_of(priority_of(value))


def default_max_gap(workers: int, buffer: int) -> int:
    """The commit window when none is configured: twice what the pool holds.

    Large enough that one slow job does not stop a partition before the pool is full of
    the jobs behind it; small enough that a crash resends at most that many per partition.
    """
    return max(MIN_MAX_GAP, 2 * (workers + buffer))


class CommitGate(Generic[T]):
    """One partition's intake, bounded so its uncommitted window stays under `max_gap`.

    Wraps the partition's `PartitionOffsets` (one per assignment). `offer` dispatches an
    offset (records it in the offsets) or holds its item back; `finish` marks an offset
    finished and returns the held items that may now be dispatched, in offset order.
    Invariants (tested): whenever some offset is unfinished, `last - position < max_gap`;
    the position never passes an unfinished offset; held items are never in the offsets.
    """

    __slots__ = ("_held", "max_gap", "offsets")

    def __init__(self, offsets: PartitionOffsets, max_gap: int) -> None:
        if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 1:
            raise ConfigError(f"commit window must be at least 1 offset, got {max_gap!r}")
        self.offsets = offsets
        self.max_gap = max_gap
        self._held: deque[tuple[int, T]] = deque()

    @property
    def paused(self) -> bool:
        """Whether something is held back: the partition's fetching should be paused."""
        return bool(self._held)

    @property
    def held(self) -> int:
        return len(self._held)

    def admits(self, offset: int) -> bool:
        """Whether `offset` may be dispatched now without widening the window too far."""
        offsets = self.offsets
        if not offsets.uncommittable:
            return True  # nothing unfinished: the window starts at this offset
        position = offsets.position
        assert position is not None  # something is unfinished
        return offset - position < self.max_gap

    def offer(self, offset: int, item: T) -> bool:
        """Dispatch `offset` (True: hand `item` to the pool) or hold it back (False).

        Offsets must increase (`ValueError` otherwise, as `PartitionOffsets.dispatch`);
        once one is held, every later one is held too, so the order is kept.
        """
        held = self._held
        if held:
            if offset <= held[-1][0]:
                raise ValueError(
                    f"offset {offset} offered after {held[-1][0]}: offsets must increase"
                )
            held.append((offset, item))
            return False
        last = self.offsets.last
        if last is not None and offset <= last:
            raise ValueError(f"offset {offset} dispatched after {last}: offsets must increase")
        if not self.admits(offset):
            held.append((offset, item))
            return False
        self.offsets.dispatch(offset)
        return True

    def finish(self, offset: int) -> list[T]:
        """Mark `offset` finished; the held items now dispatched (hand them to the pool)."""
        self.offsets.finish(offset)
        return self.release() if self._held else []

    def release(self) -> list[T]:
        """Dispatch the held items that fit in the window, in order."""
        held = self._held
        released: list[T] = []
        while held and self.admits(held[0][0]):
            offset, item = held.popleft()
            self.offsets.dispatch(offset)
            released.append(item)
        return released

    def drop_held(self) -> list[T]:
        """Forget the held items (revocation): never dispatched, so never committed past;
        the next owner of the partition reads them again."""
        items = [item for _, item in self._held]
        self._held.clear()
        return items


class LaneBacklog(Generic[T]):
    """Dispatched jobs waiting for room in their lane: one FIFO per lane, never dropped.

    The consumer's overflow with lanes: a job whose lane is full waits here while jobs of
    lanes with room go on to the pool. `drain` submits highest lane first and stops a
    lane at its first refusal, so each lane keeps its order.
    """

    __slots__ = ("queues",)

    def __init__(self) -> None:
        self.queues: tuple[deque[T], deque[T], deque[T]] = (deque(), deque(), deque())

    def add(self, lane: Lane, item: T) -> None:
        self.queues[lane].append(item)

    def waiting(self, lane: Lane) -> bool:
        """Whether jobs of `lane` wait: a new job of that lane must queue behind them."""
        return bool(self.queues[lane])

    def __len__(self) -> int:
        high, normal, low = self.queues
        return len(high) + len(normal) + len(low)

    def lengths(self) -> tuple[int, int, int]:
        high, normal, low = self.queues
        return (len(high), len(normal), len(low))

    def drain(self, has_room_for: Callable[[Lane], bool], submit: Callable[[T, Lane], None]) -> int:
        """Submit waiting jobs while their lane has room; returns how many were submitted."""
        submitted = 0
        for lane in LANES:
            queue = self.queues[lane]
            while queue and has_room_for(lane):
                submit(queue.popleft(), lane)
                submitted += 1
        return submitted

    def remove_if(self, dropped: Callable[[T], bool]) -> int:
        """Remove the jobs `dropped` says (e.g. of revoked partitions); returns how many."""
        removed = 0
        for queue in self.queues:
            kept = [item for item in queue if not dropped(item)]
            removed += len(queue) - len(kept)
            queue.clear()
            queue.extend(kept)
        return removed

    def __iter__(self) -> Iterator[T]:
        for queue in self.queues:
            yield from queue
