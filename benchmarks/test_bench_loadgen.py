"""The load generator beside a bare confluent-kafka produce loop, on the embedded broker.

The broker runs in its own process (`BrokerProcess`), as in `poolbench run`, so the
loops measured here share their process with nothing else. Durations are short by
default; for the figures in the notes set
`POOLBENCH_BENCH_SECONDS=10` (paced runs) and `POOLBENCH_BENCH_EVENTS=300000` (max runs).
Each benchmark runs once (pedantic, one round): the interesting numbers are in
`extra_info` (achieved rate, schedule lag), printed at the end of the run as well.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from poolbench.broker import BrokerProcess, watermarks
from poolbench.loadgen import LoadSpec, run_load
from poolbench.loadgen.events import EventFactory, EventKnobs, build_event, recipient, rfc3339
from poolbench.loadgen.lag import LagRecorder
from poolbench.wire import encode_event

SECONDS = float(os.environ.get("POOLBENCH_BENCH_SECONDS", "3"))
EVENTS = int(os.environ.get("POOLBENCH_BENCH_EVENTS", "100000"))
DATA_BYTES = 200
PARTITIONS = 8
RESULTS: list[str] = []


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    with BrokerProcess() as running:
        yield running
    print("\n" + "\n".join(RESULTS))


def _topic(broker: BrokerProcess, partitions: int = PARTITIONS) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions)
    return name


def _sample_value() -> bytes:
    event = build_event(
        event_id=str(uuid.uuid4()),
        template="plain",
        priority="normal",
        to=recipient(1),
        timestamp=rfc3339(int(time.time())),
        data_bytes=DATA_BYTES,
    )
    return encode_event(event)


def _bare_loop(address: str, topic: str, *, rate: float | None, count: int) -> dict[str, float]:
    """The plain baseline: one prebuilt value, same producer settings, no headers, no ids.

    Paced like the generator (sleep until the next slot) when `rate` is given.
    """
    producer = Producer(
        {
            "bootstrap.servers": address,
            "compression.type": "lz4",
            "linger.ms": 1,
            "queue.buffering.max.messages": 500_000,
            "delivery.report.only.error": True,
        }
    )
    value = _sample_value()
    lags = LagRecorder()
    start = time.monotonic()
    for i in range(count):
        if rate is not None:
            target = start + i / rate
            now = time.monotonic()
            if now < target:
                time.sleep(target - now)
            lag_from = target
        else:
            lag_from = time.monotonic()
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.001)
        lags.add_us(int((time.monotonic() - lag_from) * 1e6))
    remaining = producer.flush(30)
    elapsed = time.monotonic() - start
    lag = lags.summary()
    return {
        "rate": (count - remaining) / elapsed,
        "lag_p50_ms": lag.p50,
        "lag_p99_ms": lag.p99,
        "lag_max_ms": lag.max,
    }


def _ours(
    address: str, topic: str, *, rate: str, count: int | None, duration: float | None
) -> dict[str, float]:
    spec = LoadSpec(topic=topic, rate=rate, count=count, duration=duration, data_bytes=DATA_BYTES)
    report = run_load(spec, bootstrap_servers=address)
    assert report.complete
    assert len(report.acked_seq) == report.produced
    marks = watermarks(address, topic)  # nothing dropped by the broker's retention
    assert all(marks[p][0] <= first for p, first in report.first_offsets.items())
    return {
        "rate": report.achieved_rate,
        "lag_p50_ms": report.schedule_lag_ms["p50"],
        "lag_p99_ms": report.schedule_lag_ms["p99"],
        "lag_max_ms": report.schedule_lag_ms["max"],
        "events": report.produced,
    }


def _record(benchmark: Any, label: str, figures: dict[str, float]) -> None:
    benchmark.extra_info.update(figures)
    RESULTS.append(
        f"{label:<34} {figures['rate']:>10,.0f}/s  lag p50 {figures['lag_p50_ms']:.3f} ms"
        f"  p99 {figures['lag_p99_ms']:.3f} ms  max {figures['lag_max_ms']:.3f} ms"
    )


@pytest.mark.parametrize("rate", [1000, 20000])
def test_paced_poolbench(benchmark: Any, broker: BrokerProcess, rate: int) -> None:
    topic = _topic(broker)
    figures = benchmark.pedantic(
        _ours,
        args=(broker.bootstrap_servers, topic),
        kwargs={"rate": f"{rate}/s", "count": None, "duration": SECONDS},
        rounds=1,
        iterations=1,
    )
    _record(benchmark, f"poolbench produce {rate}/s {SECONDS:g}s", figures)
    assert figures["rate"] >= 0.9 * rate


@pytest.mark.parametrize("rate", [1000, 20000])
def test_paced_bare_loop(benchmark: Any, broker: BrokerProcess, rate: int) -> None:
    topic = _topic(broker)
    figures = benchmark.pedantic(
        _bare_loop,
        args=(broker.bootstrap_servers, topic),
        kwargs={"rate": float(rate), "count": int(rate * SECONDS)},
        rounds=1,
        iterations=1,
    )
    _record(benchmark, f"bare loop {rate}/s {SECONDS:g}s", figures)


def test_max_poolbench(benchmark: Any, broker: BrokerProcess) -> None:
    topic = _topic(broker)
    figures = benchmark.pedantic(
        _ours,
        args=(broker.bootstrap_servers, topic),
        kwargs={"rate": "max", "count": EVENTS, "duration": None},
        rounds=1,
        iterations=1,
    )
    _record(benchmark, f"poolbench produce max {EVENTS}", figures)


def test_max_bare_loop(benchmark: Any, broker: BrokerProcess) -> None:
    topic = _topic(broker)
    figures = benchmark.pedantic(
        _bare_loop,
        args=(broker.bootstrap_servers, topic),
        kwargs={"rate": None, "count": EVENTS},
        rounds=1,
        iterations=1,
    )
    _record(benchmark, f"bare loop max {EVENTS}", figures)


def _bare_loop_with_ids(address: str, topic: str, *, count: int) -> dict[str, float]:
    """The floor of what the generator does per event at max, in confluent-kafka itself:
    one prebuilt value, the three headers, a delivery report per message kept by
    partition and offset. What the generator costs beyond this is its own."""
    partitions: list[int] = []
    offsets: list[int] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            partitions.append(msg.partition())
            offsets.append(msg.offset())

    producer = Producer(
        {
            "bootstrap.servers": address,
            "compression.type": "lz4",
            "linger.ms": 1,
            "queue.buffering.max.messages": 500_000,
            "on_delivery": on_delivery,
        }
    )
    value = _sample_value()
    event_id = str(uuid.uuid4()).encode()
    start = time.monotonic()
    for i in range(count):
        stamp = b"%d" % time.monotonic_ns()
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    None,
                    headers=[
                        ("poolbench-id", event_id),
                        ("poolbench-intended-ns", stamp),
                        ("poolbench-sent-ns", stamp),
                    ],
                )
                break
            except BufferError:
                producer.poll(0.001)
        if not i & 1023:
            producer.poll(0)
    producer.flush(30)
    elapsed = time.monotonic() - start
    return {"rate": len(offsets) / elapsed, "lag_p50_ms": 0, "lag_p99_ms": 0, "lag_max_ms": 0}


def test_max_bare_loop_with_headers_and_acks(benchmark: Any, broker: BrokerProcess) -> None:
    topic = _topic(broker)
    figures = benchmark.pedantic(
        _bare_loop_with_ids,
        args=(broker.bootstrap_servers, topic),
        kwargs={"count": EVENTS},
        rounds=1,
        iterations=1,
    )
    _record(benchmark, f"bare loop + headers + acks max {EVENTS}", figures)


def test_event_factory(benchmark: Any) -> None:
    factory = EventFactory(EventKnobs(data_bytes=DATA_BYTES), random.Random(1))
    counter = iter(range(10**9))
    now = time.time_ns()
    benchmark(lambda: factory.make(next(counter), now))


def test_event_encode_baseline(benchmark: Any) -> None:
    """What one event would cost through `uuid4` + `encode_event` (the readable way)."""
    rng = random.Random(1)
    timestamp = rfc3339(int(time.time()))

    def make() -> bytes:
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return encode_event(
            build_event(
                event_id=event_id,
                template="plain",
                priority="normal",
                to=recipient(1),
                timestamp=timestamp,
                data_bytes=DATA_BYTES,
            )
        )

    benchmark(make)


@pytest.mark.parametrize("compression", ["none", "lz4", "gzip", "zstd"])
def test_retention_kept_events(benchmark: Any, broker: BrokerProcess, compression: str) -> None:
    """How many default events (349-byte values) one partition keeps, per codec.

    The source of the retention constants in `poolbench.scenario.kafka`.
    """
    topic = _topic(broker, 1)
    count = 30_000 if compression == "none" else 300_000
    spec = LoadSpec(topic=topic, count=count, compression=compression)
    report = benchmark.pedantic(
        run_load,
        args=(spec,),
        kwargs={"bootstrap_servers": broker.bootstrap_servers},
        rounds=1,
        iterations=1,
    )
    low, high = watermarks(broker.bootstrap_servers, topic)[0]
    benchmark.extra_info.update({"produced": report.produced, "kept": high - low})
    RESULTS.append(
        f"retention {compression:<5} kept {high - low:>8,} of {report.produced:,}"
        + ("" if low else " (none dropped)")
    )
