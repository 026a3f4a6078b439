"""The per-second timeline of a point: deliveries, p99, queue depth, RSS, the consumer's
counters and lag, one row per second from the load start.

Pure, like `measure`: receipts and samples in, rows out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from poolbench.run.harness import CONSUMER_ROLE
from poolbench.run.samples import (
    MB,
    NS_PER_S,
    MetricSample,
    ProcessSample,
    ReceiptLike,
)
from poolbench.wire import PRIORITIES


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    t_s: float  # start of the second, from the load start
    delivered_per_s: float  # distinct emails received in that second
    p99_ms: float | None  # end-to-end p99 of the emails received then; None: none received
    queue_depth: float | None  # mean of the consumer's queue-length scrapes; None: no scrape
    rss_mb: float | None  # peak consumer RSS sampled in that second; None: no sample
    # p99 end to end per priority of the emails received in that second (mixed loads).
    p99_by_priority_ms: Mapping[str, float | None] = field(default_factory=dict)
    # From the consumer's counters: retries and dead letters in that second; its Kafka lag
    # (the backlog still in Kafka, beside the queue depth). None: not scraped then, or a
    # consumer that does not export them.
    retried_per_s: float | None = None
    dead_lettered_per_s: float | None = None
    lag: float | None = None


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> float | None:
    """The nearest-rank percentile of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = math.ceil(percentile / 100.0 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def timeline(
    receipts: Iterable[ReceiptLike],
    *,
    origin_ns: int,
    end_ns: int,
    process_samples: Iterable[ProcessSample] = (),
    metric_samples: Iterable[MetricSample] = (),
    bin_s: float = 1.0,
    priorities: Mapping[str, str] | None = None,
) -> list[TimelineRow]:
    """Per-`bin_s` rows from `origin_ns` (the load start) up to `end_ns`, by received time."""
    bin_ns = round(bin_s * NS_PER_S)
    bins = max(1, math.ceil((end_ns - origin_ns) / bin_ns))

    def index(ns: int) -> int | None:
        i = (ns - origin_ns) // bin_ns
        return i if 0 <= i < bins else None

    counts = [0] * bins
    latency_ms: list[list[float]] = [[] for _ in range(bins)]
    split: dict[str, list[list[float]]] = {
        name: [[] for _ in range(bins)] for name in (PRIORITIES if priorities else ())
    }
    for r in receipts:
        i = index(r.received_ns)
        if i is None:
            continue
        counts[i] += 1
        if r.intended_ns is not None:
            value = (r.received_ns - r.intended_ns) / 1e6
            latency_ms[i].append(value)
            if priorities:
                name = priorities.get(r.id)
                if name in split:
                    split[name][i].append(value)
    queue: list[list[float]] = [[] for _ in range(bins)]
    lag: list[list[float]] = [[] for _ in range(bins)]
    scrapes = sorted(metric_samples, key=lambda m: m.t_ns)
    for sample in scrapes:
        i = index(sample.t_ns)
        if i is not None:
            queue[i].append(sample.queue_depth)
            if sample.lag is not None:
                lag[i].append(sample.lag)
    retried = _counter_rates(scrapes, "retried", index, bins, bin_s)
    dead = _counter_rates(scrapes, "dead_lettered", index, bins, bin_s)
    rss: list[int | None] = [None] * bins
    for s in process_samples:
        i = index(s.t_ns)
        if i is not None and s.role == CONSUMER_ROLE:
            rss[i] = max(rss[i] or 0, s.rss_bytes)
    return [
        TimelineRow(
            t_s=i * bin_s,
            delivered_per_s=counts[i] / bin_s,
            p99_ms=nearest_rank(sorted(latency_ms[i]), 99.0),
            queue_depth=sum(queue[i]) / len(queue[i]) if queue[i] else None,
            rss_mb=None if rss[i] is None else (rss[i] or 0) / MB,
            p99_by_priority_ms={
                name: nearest_rank(sorted(values[i]), 99.0) for name, values in split.items()
            },
            retried_per_s=retried[i],
            dead_lettered_per_s=dead[i],
            lag=sum(lag[i]) / len(lag[i]) if lag[i] else None,
        )
        for i in range(bins)
    ]


def _counter_rates(
    scrapes: Sequence[MetricSample],
    name: str,
    index: Callable[[int], int | None],
    bins: int,
    bin_s: float,
) -> list[float | None]:
    """Per bin, how much a counter grew since the last scrape before the bin (a scrape
    before the load counts as the start; without one, the counter started at 0 with the
    consumer, before any load). None: no scrape of it in that bin."""
    last: list[float | None] = [None] * bins
    before: list[float | None] = [None] * bins
    previous: float | None = None
    for sample in scrapes:
        value = getattr(sample, name)
        if value is None:
            continue
        i = index(sample.t_ns)
        if i is not None:
            if last[i] is None:
                before[i] = previous
            last[i] = value
        previous = value
    # A counter that went down restarted (a consumer instance came back): no negative rate.
    return [
        None if value is None else max(0.0, value - (start or 0.0)) / bin_s
        for value, start in zip(last, before, strict=True)
    ]
