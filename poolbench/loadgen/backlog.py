"""Saturation without flooding: keep the consumer group's backlog near a target.

The embedded broker keeps only about 5 MiB per partition, so "as fast as possible" must
not mean "as fast as the producer can": events are released while produced minus
committed (the group's backlog) is below the target. Committed offsets are read every
`poll_interval` seconds; an event's intended time is when it was released, so waiting
for the consumer to commit is never counted against the consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from poolbench.broker import CommittedOffsets


class BacklogGate:
    """Decides how many events may be released now. Pure apart from `read_consumed`."""

    def __init__(self, target: int, read_consumed: Callable[[], int], *, poll_interval: float):
        self._target = target
        self._read = read_consumed
        self._poll = poll_interval
        self._consumed = 0
        self._last_read: float | None = None
        self.max_backlog = 0

    @property
    def consumed(self) -> int:
        return self._consumed

    def permits(self, produced: int, now: float) -> int:
        """Events that may be released at monotonic time `now` (<= 0: wait)."""
        stale = self._last_read is None or now - self._last_read >= self._poll
        if stale:
            # Committed offsets only grow; max() ignores an answer from a lagging broker.
            self._consumed = max(self._consumed, self._read())
            self._last_read = now
        backlog = produced - self._consumed
        self.max_backlog = max(self.max_backlog, backlog)
        return self._target - backlog


class CommittedProgress:
    """How many of this run's events the group has committed, summed over partitions."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        first_offsets: Mapping[int, int],
        timeout: float,
    ) -> None:
        self._first = dict(first_offsets)
        self._offsets = CommittedOffsets(bootstrap_servers, topic, group_id, timeout)

    def __call__(self) -> int:
        committed = self._offsets.read()
        return sum(
            max(0, offset - self._first.get(partition, 0))
            for partition, offset in committed.items()
            if offset is not None
        )

    def close(self) -> None:
        self._offsets.close()
