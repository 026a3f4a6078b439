"""Which Kafka offsets may be committed: at-least-once bookkeeping, pure.

The consumer hands messages to a pool of workers that finish them in any order. An
offset is committed only when it and every lower offset of its partition are finished
(sent or dead-lettered), so a crash can only cause redelivery, never loss. Kafka's
committed offset is the *next* offset to read, so the commit position of a partition is
its lowest unfinished offset, or one past the highest dispatched offset when all are
finished.

Offsets may have gaps (compaction, transaction markers): only offsets actually
dispatched are waited for. Each assignment of a partition gets a fresh
`PartitionOffsets`; on revocation the old one is detached, so late results of jobs from a
previous assignment cannot move the position of the next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

TopicPartitionKey = tuple[str, int]


class PartitionOffsets:
    """Dispatched and finished offsets of one partition, for one assignment."""

    __slots__ = ("_finished", "_pending", "detached", "dispatched", "finished_count", "last")

    def __init__(self) -> None:
        # Dispatched offsets in order; the head is the lowest not yet known finished.
        self._pending: deque[int] = deque()
        # Offsets finished while a lower one was still pending.
        self._finished: set[int] = set()
        self.last: int | None = None
        self.dispatched = 0
        self.finished_count = 0
        self.detached = False

    def dispatch(self, offset: int) -> None:
        """Record an offset handed to the workers; offsets must strictly increase."""
        if self.last is not None and offset <= self.last:
            raise ValueError(f"offset {offset} dispatched after {self.last}: offsets must increase")
        self._pending.append(offset)
        self.last = offset
        self.dispatched += 1

    def finish(self, offset: int) -> None:
        """Mark a dispatched offset finished (sent or dead-lettered); idempotent."""
        pending = self._pending
        if not pending or offset < pending[0] or offset in self._finished:
            return  # already counted as finished (the position moved past it)
        if offset > (self.last if self.last is not None else -1):
            raise ValueError(f"offset {offset} finished but never dispatched")
        self.finished_count += 1
        if offset != pending[0]:
            self._finished.add(offset)
            return
        pending.popleft()
        finished = self._finished
        while pending and pending[0] in finished:
            finished.discard(pending.popleft())

    @property
    def position(self) -> int | None:
        """The offset to commit (next to read), or None when nothing was dispatched."""
        if self._pending:
            return self._pending[0]
        return None if self.last is None else self.last + 1

    @property
    def unfinished(self) -> int:
        """Dispatched offsets not finished yet."""
        return self.dispatched - self.finished_count

    @property
    def uncommittable(self) -> int:
        """Dispatched offsets at or above the commit position: redelivered after a crash."""
        return len(self._pending)


class OffsetTracker:
    """Commit positions of every assigned partition; remembers what was already committed."""

    __slots__ = ("_committed", "_parts")

    def __init__(self) -> None:
        self._parts: dict[TopicPartitionKey, PartitionOffsets] = {}
        self._committed: dict[TopicPartitionKey, int] = {}

    def assign(self, key: TopicPartitionKey) -> PartitionOffsets:
        """Start tracking a newly assigned partition (a fresh state each assignment)."""
        old = self._parts.get(key)
        if old is not None:
            old.detached = True
        part = PartitionOffsets()
        self._parts[key] = part
        self._committed.pop(key, None)
        return part

    def partition(self, key: TopicPartitionKey) -> PartitionOffsets:
        """The state of an assigned partition, assigning it when it is new."""
        part = self._parts.get(key)
        return part if part is not None else self.assign(key)

    def revoke(self, key: TopicPartitionKey) -> PartitionOffsets | None:
        """Stop tracking a partition; its state is detached and returned."""
        part = self._parts.pop(key, None)
        self._committed.pop(key, None)
        if part is not None:
            part.detached = True
        return part

    def keys(self) -> list[TopicPartitionKey]:
        return list(self._parts)

    def positions(
        self, keys: Iterable[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Every known commit position (of `keys`, or of all partitions)."""
        chosen = self._parts if keys is None else keys
        result: dict[TopicPartitionKey, int] = {}
        for key in chosen:
            part = self._parts.get(key)
            if part is not None and (position := part.position) is not None:
                result[key] = position
        return result

    def to_commit(self) -> dict[TopicPartitionKey, int]:
        """Positions that moved since `mark_committed` last recorded them."""
        committed = self._committed
        return {k: p for k, p in self.positions().items() if committed.get(k) != p}

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        for key, position in positions.items():
            if key in self._parts:
                self._committed[key] = position

    @property
    def unfinished(self) -> int:
        return sum(part.unfinished for part in self._parts.values())

    @property
    def uncommittable(self) -> int:
        return sum(part.uncommittable for part in self._parts.values())
