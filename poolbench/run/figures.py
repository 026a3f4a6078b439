"""The figures of a steady-state window: throughput, both latencies, per priority. Pure.

Rules:
- Throughput, under every load: the distinct emails *received* inside the window,
  divided by its length. The offered rate (open model) is a separate figure, and
  "kept up" is its own verdict: the delivered rate is at least `KEPT_UP_SHARE` of the
  offered rate and the backlog did not grow across the window.
- Two latencies, for every point:
  end to end = received - intended send time (under a saturating load the load
  generator stamps the time it released the email, so it is the produce time), which
  includes the wait in Kafka and in the pool's queue; and service = received - the
  worker's start (a consumer that sends no start stamp has no service time).
  Under an open load the latency receipts are the emails *intended* inside the window,
  whenever they arrived, so a backlog that drains late carries its whole wait
  (coordinated omission is corrected); under a saturating load, those received inside it.
- Duplicates count once: the earliest receipt of an id is the one measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Generic, TypeVar

from poolbench.metrics.histogram import LatencyHistogram, LatencySummary
from poolbench.run.samples import ReceiptLike, Window
from poolbench.wire import PRIORITIES

# The delivered rates of the window's two halves differ by more than this: not steady.
HALVES_TOLERANCE: Final = 0.10
# Kept up: at least this share of the offered rate delivered, and a backlog that grew by
# no more than BACKLOG_SLACK_SHARE of the window's emails (at least BACKLOG_SLACK_MIN).
KEPT_UP_SHARE: Final = 0.98
BACKLOG_SLACK_SHARE: Final = 0.02
BACKLOG_SLACK_MIN: Final = 5

R = TypeVar("R", bound=ReceiptLike)


class LoadMode(StrEnum):
    OPEN = "open"  # a schedule of intended send times, independent of the consumer
    SATURATE = "saturate"  # a standing backlog: the consumer sets the pace


@dataclass(frozen=True, slots=True, kw_only=True)
class Distinct(Generic[R]):
    """The first receipt of each id, and how many receipts repeated an id already seen."""

    first: dict[str, R]
    duplicates: int
    unidentified: int  # receipts without an id: neither counted nor measured


def distinct_receipts(receipts: Iterable[R]) -> Distinct[R]:
    first: dict[str, R] = {}
    duplicates = 0
    unidentified = 0
    for receipt in receipts:
        if not receipt.id:
            unidentified += 1
            continue
        seen = first.get(receipt.id)
        if seen is None:
            first[receipt.id] = receipt
            continue
        duplicates += 1
        if receipt.received_ns < seen.received_ns:
            first[receipt.id] = receipt
    return Distinct(first=first, duplicates=duplicates, unidentified=unidentified)


def received_in(receipts: Iterable[R], window: Window) -> list[R]:
    return [r for r in receipts if r.received_ns in window]


def latency_receipts(receipts: Iterable[R], window: Window, mode: LoadMode) -> list[R]:
    """The receipts whose latency describes the window (see the module doc)."""
    if mode is LoadMode.OPEN:
        return [r for r in receipts if r.intended_ns is not None and r.intended_ns in window]
    return received_in(receipts, window)


def backlog_at(receipts: Iterable[ReceiptLike], t_ns: int) -> int:
    """Emails meant to be sent before `t_ns` and not yet received by then."""
    return sum(
        1 for r in receipts if r.intended_ns is not None and r.intended_ns < t_ns <= r.received_ns
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Throughput:
    per_s: float  # distinct emails received in the window / its length
    offered_per_s: float | None  # the open model's rate over the window; None: saturating
    kept_up: bool | None  # open model only
    backlog_growth: int | None  # open model: backlog at the window's end minus its start
    first_half_per_s: float
    second_half_per_s: float

    @property
    def steady(self) -> bool:
        low, high = sorted((self.first_half_per_s, self.second_half_per_s))
        return high == 0 or (high - low) / high <= HALVES_TOLERANCE


def throughput(
    receipts: Sequence[ReceiptLike], window: Window, *, offered_per_s: float | None
) -> Throughput:
    """Throughput by receipt; `receipts` holds one receipt per id."""
    inside = received_in(receipts, window)
    per_s = len(inside) / window.seconds
    middle = window.start_ns + (window.end_ns - window.start_ns) // 2
    first_half = sum(1 for r in inside if r.received_ns < middle)
    half_s = window.seconds / 2
    kept_up: bool | None = None
    growth: int | None = None
    if offered_per_s is not None:
        growth = backlog_at(receipts, window.end_ns) - backlog_at(receipts, window.start_ns)
        slack = max(BACKLOG_SLACK_MIN, BACKLOG_SLACK_SHARE * offered_per_s * window.seconds)
        kept_up = per_s >= KEPT_UP_SHARE * offered_per_s and growth <= slack
    return Throughput(
        per_s=per_s,
        offered_per_s=offered_per_s,
        kept_up=kept_up,
        backlog_growth=growth,
        first_half_per_s=first_half / half_s,
        second_half_per_s=(len(inside) - first_half) / half_s,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Latencies:
    end_to_end: LatencySummary | None  # received - intended (or produced)
    service: LatencySummary | None  # received - worker start
    wait: LatencySummary | None  # worker start - intended: Kafka, poll and the pool's queue
    histogram: str | None  # `end_to_end`, encoded (LatencyHistogram.encode)
    service_histogram: str | None
    untimed: int  # receipts without an intended time
    unstarted: int  # receipts without a worker start stamp


def latencies(receipts: Iterable[ReceiptLike]) -> Latencies:
    end_to_end, service, wait = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    untimed = 0
    unstarted = 0
    for r in receipts:
        if r.intended_ns is None:
            untimed += 1
        else:
            end_to_end.record_ns(r.received_ns - r.intended_ns)
        if r.started_ns is None:
            unstarted += 1
            continue
        service.record_ns(r.received_ns - r.started_ns)
        if r.intended_ns is not None:
            wait.record_ns(r.started_ns - r.intended_ns)
    return Latencies(
        end_to_end=end_to_end.summary() if end_to_end.count else None,
        service=service.summary() if service.count else None,
        wait=wait.summary() if wait.count else None,
        histogram=end_to_end.encode() if end_to_end.count else None,
        service_histogram=service.encode() if service.count else None,
        untimed=untimed,
        unstarted=unstarted,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityFigures:
    """One priority's share of a point: throughput by receipt and both latencies."""

    emails: int  # received in the window
    throughput_per_s: float
    latency: Latencies


def by_priority(
    firsts: Sequence[ReceiptLike],
    window: Window,
    mode: LoadMode,
    priorities: Mapping[str, str],
) -> dict[str, PriorityFigures]:
    """The point split by each email's priority (as the load generator chose it)."""
    if not priorities:
        return {}
    out: dict[str, PriorityFigures] = {}
    for name in PRIORITIES:
        mine = [r for r in firsts if priorities.get(r.id) == name]
        if not mine:
            continue
        received = len(received_in(mine, window))
        out[name] = PriorityFigures(
            emails=received,
            throughput_per_s=received / window.seconds,
            latency=latencies(latency_receipts(mine, window, mode)),
        )
    return out


def ideal_throughput(
    *, workers: int, mean_latency_s: float, offered_per_s: float | None, instances: int = 1
) -> float | None:
    """min(workers / mean sink latency, offered rate); None when there is no finite bound
    (a 0 ms sink under a saturating load): never 0, which a gate would read as a value.

    `offered_per_s` is None for a saturating load (only the workers bound it).
    """
    bound = workers * instances / mean_latency_s if mean_latency_s > 0 else math.inf
    if offered_per_s is not None:
        bound = min(bound, offered_per_s)
    return None if math.isinf(bound) else bound
