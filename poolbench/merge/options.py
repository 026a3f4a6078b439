"""What a merge may accept: the clock spread it tolerates, the warm-up, the workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_CLOCK_SKEW_NS: Final = 50_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeOptions:
    max_clock_skew_ns: int = DEFAULT_MAX_CLOCK_SKEW_NS
    warmup_s: float = 0.0
    workers: int = 10  # per consumer instance, for the ideal throughput
    name: str = "merged"
