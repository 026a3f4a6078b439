"""measure() over a large point (100,000 receipts) beside a bare HdrHistogram loop.

The runner computes each point once, at its end; this shows what the full arithmetic
(dedup, accounting by id, window, throughput, both latencies, timeline) costs over the one
thing any instrument must do: record every latency in a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hdrh.histogram import HdrHistogram
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.run.accounting import Acked
from poolbench.run.figures import LoadMode
from poolbench.run.measure import Measurement, PointInputs, measure
from poolbench.run.samples import ProcessSample

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S
COUNT = 100_000


@dataclass(frozen=True, slots=True)
class Rec:
    id: str
    intended_ns: int | None
    received_ns: int
    started_ns: int | None
    steps: None = None


@pytest.fixture(scope="module")
def receipts() -> list[Rec]:
    # 1,000/s for 100 s, 20 ms waiting and 80-179 ms sending.
    return [
        Rec(
            f"m{i}",
            T0 + i * MS,
            T0 + i * MS + 100 * MS + (i % 100) * MS,
            T0 + i * MS + 20 * MS,
        )
        for i in range(COUNT)
    ]


def _measure(receipts: list[Rec]) -> Measurement:
    return measure(
        PointInputs(
            receipts=receipts,
            mode=LoadMode.OPEN,
            load_start_ns=T0,
            load_end_ns=T0 + 100 * S,
            warmup_s=10,
            workers=200,
            mean_sink_latency_s=0.13,
            offered_per_s=1000,
            acked=[Acked(id=r.id, partition=0, offset=i) for i, r in enumerate(receipts)],
            process_samples=[
                ProcessSample(
                    t_ns=T0 + i * S, role="consumer", rss_bytes=40_000_000, cpu_percent=50
                )
                for i in range(101)
            ],
        )
    )


@pytest.mark.benchmark(group="measure-100k")
def test_measure(benchmark: BenchmarkFixture, receipts: list[Rec]) -> None:
    result = benchmark(_measure, receipts)
    assert result.accounting.delivered == COUNT
    assert result.throughput is not None
    assert result.throughput.per_s == pytest.approx(1000.0)


@pytest.mark.benchmark(group="measure-100k")
def test_baseline_bare_histogram(benchmark: BenchmarkFixture, receipts: list[Rec]) -> None:
    def record() -> int:
        hist = HdrHistogram(1, 3_600_000_000, 2)
        for r in receipts:
            assert r.intended_ns is not None
            hist.record_value((r.received_ns - r.intended_ns) // 1000)
        return int(hist.get_total_count())

    assert benchmark(record) == COUNT
