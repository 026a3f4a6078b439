"""Schedule lag (actual send time behind intended send time), cheap enough per event.

Recording into HdrHistogram costs about 2.5 µs a value in Python, more than producing a
message; so values (µs) are appended to a flat array and folded into the histogram with
one `record_value(value, count)` per distinct value every `FOLD_EVERY` events. Memory
stays bounded, precision is HdrHistogram's (two significant digits).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hdrh.histogram import HdrHistogram

FOLD_EVERY: Final = 65536
_HIGHEST_US: Final = 3_600_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class LagSummary:
    """Milliseconds."""

    count: int
    avg: float
    p50: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {"avg": self.avg, "p50": self.p50, "p99": self.p99, "max": self.max}


class LagRecorder:
    __slots__ = ("_buffer", "_hist")

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, _HIGHEST_US, 2)
        self._buffer: array[int] = array("q")

    def add_us(self, micros: int) -> None:
        self._buffer.append(micros)
        if len(self._buffer) >= FOLD_EVERY:
            self._fold()

    @property
    def append(self) -> Callable[[int], None]:
        """For hot loops: the bare append; call `maybe_fold()` every few thousand values."""
        return self._buffer.append

    def maybe_fold(self) -> None:
        if len(self._buffer) >= FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        for micros, count in Counter(self._buffer).items():
            self._hist.record_value(min(max(micros, 1), _HIGHEST_US), count)
        # Cleared in place, so that a bound `append` stays valid.
        del self._buffer[:]

    def summary(self) -> LagSummary:
        self._fold()
        count = int(self._hist.get_total_count())
        if count == 0:
            return LagSummary(count=0, avg=0.0, p50=0.0, p99=0.0, max=0.0)
        return LagSummary(
            count=count,
            avg=float(self._hist.get_mean_value()) / 1000,
            p50=float(self._hist.get_value_at_percentile(50.0)) / 1000,
            p99=float(self._hist.get_value_at_percentile(99.0)) / 1000,
            max=float(self._hist.get_max_value()) / 1000,
        )
