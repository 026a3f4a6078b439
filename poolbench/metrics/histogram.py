"""Latency histograms with bounded relative error, mergeable across processes.

Wraps HdrHistogram (the `hdrhistogram` package) rather than keeping every sample:
memory stays fixed however long a run is, two significant digits give at most 1%
error, and its compressed encoding lets a histogram cross a process boundary.
Values are recorded in microseconds, from 1 µs to 1 hour.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_SIGNIFICANT_DIGITS = 2

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencySummary:
    """Milliseconds; `count` samples. All zero when nothing was recorded."""

    count: int
    avg: float
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {
            "avg": self.avg,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
        }


class LatencyHistogram:
    """Record durations; read percentiles in milliseconds."""

    __slots__ = ("_hist", "_negative")

    def __init__(self) -> None:
        self._hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)
        self._negative = 0

    @property
    def negative_count(self) -> int:
        """Samples recorded as the minimum because they were negative: a duration below
        zero means clocks disagree (e.g. wall clocks of two hosts), worth a warning.
        Not kept by `encode`/`decode`."""
        return self._negative

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def record_ns(self, nanoseconds: int) -> None:
        """Record one duration; values outside 1 µs .. 1 h are clamped, never dropped."""
        if nanoseconds < 0:
            self._negative += 1
        micros = nanoseconds // 1000
        if micros < _LOWEST_US:
            micros = _LOWEST_US
        elif micros > _HIGHEST_US:
            micros = _HIGHEST_US
        self._hist.record_value(micros)

    def record_seconds(self, seconds: float) -> None:
        self.record_ns(int(seconds * 1e9))

    def merge(self, other: LatencyHistogram) -> None:
        self._hist.add(other._hist)
        self._negative += other._negative

    def reset(self) -> None:
        self._hist.reset()
        self._negative = 0

    def percentile_ms(self, percentile: float) -> float:
        if self.count == 0:
            return 0.0
        return float(self._hist.get_value_at_percentile(percentile)) / 1000.0

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return LatencySummary(count=0, avg=0, p50=0, p90=0, p95=0, p99=0, p999=0, max=0)
        values = {name: self.percentile_ms(p) for name, p in PERCENTILES}
        return LatencySummary(
            count=self.count,
            avg=float(self._hist.get_mean_value()) / 1000.0,
            max=float(self._hist.get_max_value()) / 1000.0,
            **values,
        )

    def encode(self) -> str:
        """A compact text form (HdrHistogram's compressed base64)."""
        return str(self._hist.encode().decode("ascii"))

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        hist = cls()
        hist._hist = HdrHistogram.decode(text.encode("ascii"))
        return hist
