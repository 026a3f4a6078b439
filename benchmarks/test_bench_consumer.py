"""The consumer end to end beside the bare pipeline it wraps, in the same run.

Each round pushes a backlog of EVENTS events from the embedded broker through a consumer
to an SMTP sink in its own process (0 ms latency), until all are accepted:

- `poolbench`: `ConsumerService` (decode, render, MIME, send, retry/breaker gate, offset
  tracking and commits, metrics counters) with 10 workers.
- `bare`: the first prototype's shape: a poll thread feeding an asyncio.Queue, 10 aiosmtplib
  workers with kept connections sending one prebuilt message per event, no commits.

Run with `nox -s bench`; `pytest-benchmark` prints seconds per round; events/s is
EVENTS / mean. The machine is shared: compare the two rows of one run, not across runs.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import aiosmtplib
import pytest
from confluent_kafka import Consumer

from poolbench.broker import EmbeddedBroker, TopicSpec
from poolbench.consumer.kafka_tuning import kafka_tuning
from poolbench.consumer.service import ConsumerService
from poolbench.consumer.settings import ConsumerSettings
from poolbench.loadgen import LoadSpec, run_load
from poolbench.sink import SinkConfig, SinkServer

EVENTS = 1500
WORKERS = 10


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as started:
        yield started


@pytest.fixture(scope="module")
def sink() -> Iterator[SinkServer]:
    with SinkServer(SinkConfig(isolated=True)) as started:
        yield started


def _backlog(broker: EmbeddedBroker) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """pedantic() setup: a fresh topic holding EVENTS events."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    broker.create_topic(TopicSpec(topic, 4))
    run_load(
        LoadSpec(topic=topic, count=EVENTS, rate="max"), bootstrap_servers=broker.bootstrap_servers
    )
    return (topic,), {}


def _ours(broker: EmbeddedBroker, sink: SinkServer) -> Callable[[str], None]:
    base = ConsumerSettings(
        kafka_brokers=broker.bootstrap_servers,
        smtp_host=sink.host,
        smtp_port=sink.port,
        workers=WORKERS,
        dlq_topic="bench-dlq",
    )

    def run(topic: str) -> None:
        settings = replace(base, kafka_topic=topic, kafka_group=f"{topic}-group")
        counters = asyncio.run(ConsumerService(settings, max_events=EVENTS).run())
        assert counters.sent == EVENTS

    return run


def _bare(broker: EmbeddedBroker, sink: SinkServer) -> Callable[[str], None]:
    def run(topic: str) -> None:
        assert asyncio.run(_bare_pipeline(broker.bootstrap_servers, topic, sink)) == EVENTS

    return run


async def _bare_pipeline(bootstrap: str, topic: str, sink: SinkServer) -> int:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100)
    stop = threading.Event()

    async def put_all(values: list[bytes]) -> None:
        for value in values:
            await queue.put(value)

    def poll() -> None:
        consumer = Consumer(
            {
                **kafka_tuning(),
                "bootstrap.servers": bootstrap,
                "group.id": f"{topic}-bare",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                values = [m.value() or b"" for m in consumer.consume(500, 0.01) if not m.error()]
                if values:
                    asyncio.run_coroutine_threadsafe(put_all(values), loop).result()
        finally:
            consumer.close()

    sent = 0
    done = asyncio.Event()

    async def worker() -> None:
        nonlocal sent
        client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, local_hostname="bench")
        await client.connect()
        try:
            while not done.is_set():
                value = await queue.get()
                message = b"Subject: x\r\nX-Poolbench-Id: %d\r\n\r\n%b\r\n" % (sent, value)
                await client.sendmail("shop@example.com", ["ana@example.org"], message)
                sent += 1
                if sent >= EVENTS:
                    done.set()
        finally:
            await client.quit()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    await done.wait()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(thread.join, 10)
    return sent


@pytest.mark.parametrize("variant", ["poolbench", "bare"])
def test_backlog_through_the_consumer(
    benchmark: Any, broker: EmbeddedBroker, sink: SinkServer, variant: str
) -> None:
    run = _ours(broker, sink) if variant == "poolbench" else _bare(broker, sink)
    benchmark.extra_info["events"] = EVENTS
    benchmark.extra_info["workers"] = WORKERS
    benchmark.pedantic(run, setup=lambda: _backlog(broker), rounds=3, iterations=1)
