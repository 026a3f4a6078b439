"""How a load run goes (`LoadProgress`) and what it did (`LoadReport`).

`LoadReport.to_json`/`from_json` bring a run's result back from a load generator in
another process, with every acknowledged id, partition and offset.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final

from poolbench.errors import ConfigError
from poolbench.metrics.clock import ClockPair


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadProgress:
    produced: int
    delivery_errors: int
    elapsed_s: float
    backlog: int | None = None


def _ints(values: Any, what: str) -> array[int]:
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ConfigError(f"load report: {what}: expected a list of integers")
    return array("q", values)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What a load run did. Rates are measured, never the target.

    `produced`: events handed to the producer; `acknowledged`: confirmed by the broker;
    `achieved_rate`: acknowledged / `elapsed_s` (start to last acknowledgement);
    `send_rate`: produced / `send_elapsed_s` (start to last hand-over); `target_rate`:
    what the schedule meant over the same time (None for max). `schedule_lag_ms`: how far
    each send was behind its intended time (avg/p50/p99/max). `first_offsets`: per
    partition, the offset the run's first message got there (a low watermark above it
    means the broker's retention dropped some).
    `id_prefix`: every message id of this run starts with it (ids are unique across runs).
    `start_wall_ns` and `start_mono_ns`: the schedule's origin as a date and as a
    CLOCK_MONOTONIC stamp, read together (the intended and sent stamps in the messages
    are on the monotonic clock; `stamp_pair` puts them on the wall timeline). A report
    written before the stamps moved to CLOCK_MONOTONIC has no `start_mono_ns`: its stamps
    are wall time, and `start_stamp_ns` is then its wall start.

    Exactly which messages the broker took: `acked_seq[i]` is the sequence number of the
    i-th acknowledgement (its id is `event_id(seq)`), at `acked_partition[i]`,
    `acked_offset[i]`; `failed_seq` the ones whose delivery failed. Events produced but in
    neither (unconfirmed when the delivery timeout ran out) are `unconfirmed_seq()`.
    Sequence numbers (three integer arrays) keep a report of millions of events small.
    """

    spec: dict[str, Any]
    partitions: int
    produced: int
    acknowledged: int
    delivery_errors: int
    first_error: str
    elapsed_s: float
    send_elapsed_s: float
    achieved_rate: float
    send_rate: float
    target_rate: float | None
    schedule_lag_ms: dict[str, float]
    first_offsets: dict[int, int]
    poison: dict[str, int]
    poison_ids: tuple[str, ...]
    id_prefix: str
    backlog_max: int | None
    stopped_early: bool
    start_wall_ns: int
    start_mono_ns: int | None = None
    acked_seq: array[int] = field(default_factory=lambda: array("q"))
    acked_partition: array[int] = field(default_factory=lambda: array("q"))
    acked_offset: array[int] = field(default_factory=lambda: array("q"))
    failed_seq: array[int] = field(default_factory=lambda: array("q"))
    # With a mix of priorities: event `seq`'s priority is the `seq`-th letter (h, n, l);
    # "" when every event has the one priority of the spec.
    priority_codes: str = ""

    def __post_init__(self) -> None:
        if not len(self.acked_seq) == len(self.acked_partition) == len(self.acked_offset):
            raise ConfigError("load report: acked seq, partition and offset differ in length")

    @property
    def start_stamp_ns(self) -> int:
        """The start on the clock of this load's stamps (see the class doc)."""
        return self.start_wall_ns if self.start_mono_ns is None else self.start_mono_ns

    @property
    def stamp_pair(self) -> ClockPair | None:
        """The start's (wall, monotonic) pair; None when the stamps are wall time."""
        if self.start_mono_ns is None:
            return None
        return ClockPair(wall_ns=self.start_wall_ns, monotonic_ns=self.start_mono_ns)

    @property
    def complete(self) -> bool:
        """Every event produced was acknowledged."""
        return self.delivery_errors == 0 and self.acknowledged == self.produced

    def event_id(self, seq: int) -> str:
        """The message id of event `seq` (as the load generator's `EventFactory` made it)."""
        return f"{self.id_prefix}{seq:012x}"

    def acked(self) -> Iterator[tuple[str, int, int]]:
        """(id, partition, offset) of every acknowledged message, in acknowledgement order."""
        prefix = self.id_prefix
        for seq, partition, offset in zip(
            self.acked_seq, self.acked_partition, self.acked_offset, strict=True
        ):
            yield f"{prefix}{seq:012x}", partition, offset

    def acked_ids(self) -> set[str]:
        prefix = self.id_prefix
        return {f"{prefix}{seq:012x}" for seq in self.acked_seq}

    def failed_ids(self) -> set[str]:
        prefix = self.id_prefix
        return {f"{prefix}{seq:012x}" for seq in self.failed_seq}

    def priorities(self) -> dict[str, str]:
        """Each acknowledged id's priority (high, normal, low); {} without a mix."""
        if not self.priority_codes:
            return {}
        codes = self.priority_codes
        prefix = self.id_prefix
        return {
            f"{prefix}{seq:012x}": _PRIORITY_NAMES[codes[seq]]
            for seq in self.acked_seq
            if seq < len(codes)
        }

    def unconfirmed_seq(self) -> list[int]:
        """Produced, but neither acknowledged nor failed by the end of the run."""
        known = set(self.acked_seq).union(self.failed_seq)
        return [seq for seq in range(self.produced) if seq not in known]

    def to_dict(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["first_offsets"] = {str(p): o for p, o in self.first_offsets.items()}
        doc["poison_ids"] = list(self.poison_ids)
        for name in ("acked_seq", "acked_partition", "acked_offset", "failed_seq"):
            doc[name] = getattr(self, name).tolist()
        return doc

    def to_json(self) -> str:
        # One line: the id arrays may hold millions of numbers.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LoadReport:
        values = dict(doc)
        values["first_offsets"] = {int(p): int(o) for p, o in doc["first_offsets"].items()}
        values["poison_ids"] = tuple(doc["poison_ids"])
        for name in ("acked_seq", "acked_partition", "acked_offset", "failed_seq"):
            values[name] = _ints(doc.get(name, []), name)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> LoadReport:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"load report: not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError("load report: expected a JSON object")
        try:
            return cls.from_dict(doc)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"load report: missing or unexpected field: {exc}") from exc


_PRIORITY_NAMES: Final = {"h": "high", "n": "normal", "l": "low"}


def rate_or_none(count: float, seconds: float) -> float | None:
    if math.isinf(count) or seconds <= 0:
        return None
    return count / seconds
