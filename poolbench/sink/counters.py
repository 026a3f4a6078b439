"""The sink's counters: one server's live counts, and the snapshot merged across processes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True, kw_only=True)
class RawCounters:
    """One server's live counts (mutable, owned by its event loop)."""

    received: int = 0
    transient: int = 0
    permanent: int = 0
    dropped: int = 0
    auth: int = 0
    rate_limited: int = 0
    over_capacity: int = 0
    outage: int = 0
    connections_open: int = 0
    connections_total: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


REJECT_KINDS = (
    "transient",
    "permanent",
    "dropped",
    "auth",
    "rate_limited",
    "over_capacity",
    "outage",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkCounters:
    """A live snapshot, merged across the sink's processes.

    `cpu_percent` is the sink's own CPU use since the previous snapshot (100 = one core;
    summed over processes); `cpu_seconds` is its total since start. In-process (thread)
    mode measures the server thread alone (Linux per-thread CPU time via psutil).
    Rejections by kind: `transient` 451 and `permanent` 550 faults, `dropped` cut
    connections, `auth` 535 (bad credentials) and 530 (MAIL without AUTH),
    `rate_limited` 451 at MAIL, `over_capacity` 421 at connect, `outage` 421/451.
    """

    received: int = 0
    duplicates: int = 0
    transient: int = 0
    permanent: int = 0
    dropped: int = 0
    auth: int = 0
    rate_limited: int = 0
    over_capacity: int = 0
    outage: int = 0
    connections_open: int = 0
    connections_total: int = 0
    cpu_percent: float = 0.0
    cpu_seconds: float = 0.0
    processes: int = 1

    @property
    def rejected(self) -> int:
        return sum(getattr(self, kind) for kind in REJECT_KINDS)

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["rejected"] = self.rejected
        return doc
