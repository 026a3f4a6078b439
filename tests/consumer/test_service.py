"""The consumer end to end, in process: embedded Kafka broker and SMTP sink over TCP."""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, TopicPartition

from poolbench.broker import EmbeddedBroker
from poolbench.consumer.service import ConsumerService, new_event_loop
from poolbench.sink import FaultConfig, Outage, SinkServer, parse_latency
from poolbench.wire import HEADER_ID
from tests.consumer.e2e import (
    POISON,
    ServiceThread,
    background,
    event_value,
    new_ids,
    produce,
    read_dead_letters,
    run_service,
    settings_for,
    topics,
    unique,
    wait_until,
)

SinkFactory = Callable[..., SinkServer]


def _committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return sum(max(0, tp.offset) for tp in committed)


@pytest.mark.parametrize(("workers", "buffer"), [(1, 50), (10, 50), (200, 50), (4, 0)])
def test_every_event_reaches_the_sink_exactly_once(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, workers: int, buffer: int
) -> None:
    count = 200
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory(latency=parse_latency("1ms"))
    settings = settings_for(embedded_broker, sink, source, dlq, workers=workers, buffer=buffer)
    counters = run_service(ConsumerService(settings, max_events=count))
    receipts = sink.receipts()
    assert sorted(r.id for r in receipts) == sorted(ids)  # each once, none lost
    assert counters.consumed == counters.sent == count
    assert counters.dead_lettered == counters.left_uncommitted == 0
    assert counters.finished_uncommitted == 0
    assert not counters.timed_out
    # Every offset was committed on the way out: a restart would read nothing again.
    bootstrap = embedded_broker.bootstrap_servers
    assert _committed_total(bootstrap, settings.kafka_group, source, 4) == count
    # The consumer copied the Kafka headers into the email, and stamped the start time.
    assert all(r.intended_ns is not None and r.started_ns is not None for r in receipts)
    assert all(r.started_ns is not None and r.started_ns >= (r.intended_ns or 0) for r in receipts)


def test_transient_faults_are_retried_until_delivered(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 300
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    values = [(i, event_value(i, max_retries=20)) for i in ids]
    produce(embedded_broker.bootstrap_servers, source, values)
    sink = sink_factory(faults=FaultConfig(transient=0.2), seed=11)
    settings = settings_for(embedded_broker, sink, source, dlq, workers=10, breaker_threshold=50)
    counters = run_service(ConsumerService(settings, max_events=count))
    rejected = sink.counters().transient
    assert {r.id for r in sink.receipts()} == set(ids)
    assert counters.sent == count
    assert counters.dead_lettered == 0
    assert rejected > count * 0.1  # the faults happened...
    assert counters.failed == rejected  # ...each was seen...
    assert counters.retried == rejected  # ...and retried once more


def test_permanent_failures_and_poison_go_to_the_dlq_and_the_partition_flows(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    good = new_ids(150)
    poison = [f"poison-{n}" for n in range(10)]
    values = [(i, event_value(i)) for i in good]
    for n, event_id in enumerate(poison):
        values.insert(n * 15 + 3, (event_id, POISON))
    source, dlq = topics(embedded_broker, partitions=1)  # one partition: it must not stall
    produce(embedded_broker.bootstrap_servers, source, values)
    sink = sink_factory(faults=FaultConfig(permanent=0.1), seed=5)
    settings = settings_for(embedded_broker, sink, source, dlq, workers=10)
    counters = run_service(ConsumerService(settings, max_events=len(values)))
    refused = sink.counters().permanent
    delivered = {r.id for r in sink.receipts()}
    assert refused > 0
    assert counters.sent == len(good) - refused == len(delivered)
    assert counters.dead_lettered == refused + len(poison)
    assert counters.invalid == len(poison)
    assert counters.retried == 0  # permanent failures are not retried

    letters = read_dead_letters(embedded_broker.bootstrap_servers, dlq, counters.dead_lettered)
    assert len(letters) == counters.dead_lettered
    by_id = {(letter.header(HEADER_ID) or b"").decode(): letter for letter in letters}
    assert set(by_id) | delivered == set(good) | set(poison)
    assert not set(by_id) & delivered
    original = dict(values)
    offsets = {event_id: n for n, (event_id, _) in enumerate(values)}
    for event_id, letter in by_id.items():
        assert letter.value == original[event_id]  # the original value, untouched
        assert letter.source_topic == source
        assert letter.source_partition == 0
        assert letter.source_offset == offsets[event_id]
        if event_id in poison:
            assert letter.error.startswith("invalid event: malformed JSON")
            assert letter.attempts == 0
        else:
            assert letter.error.startswith("permanent failure")
            assert "550" in letter.error
            assert letter.attempts == 1


@pytest.mark.slow
def test_an_smtp_outage_opens_and_closes_the_breaker_without_dead_letters(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 240
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    sink = sink_factory(latency=parse_latency("2ms"), outages=(Outage(start=1.0, end=3.0),))
    settings = settings_for(embedded_broker, sink, source, dlq, workers=10, max_retries=3)
    values = [(i, event_value(i)) for i in ids]
    service = ServiceThread(settings, max_events=count)
    with (
        service,
        background(lambda: produce(embedded_broker.bootstrap_servers, source, values, rate=80)),
    ):
        wait_until(lambda: service.service.finished >= count, 60, "every event finished")
    counters = service.stop()
    assert sink.counters().outage > 0  # the outage did hit the consumer
    assert counters.breaker_opened >= 1
    assert counters.dead_lettered == 0
    assert counters.sent == count
    assert {r.id for r in sink.receipts()} == set(ids)


def test_a_full_pool_pauses_fetching_and_loses_nothing(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    count = 300
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory(latency=parse_latency("3ms"))
    settings = settings_for(embedded_broker, sink, source, dlq, workers=2, buffer=4)
    with caplog.at_level(logging.WARNING, logger="poolbench.consumer.service"):
        counters = run_service(ConsumerService(settings, max_events=count))
    full = [r for r in caplog.records if "Worker pool job queue is full" in r.getMessage()]
    assert sorted(r.id for r in sink.receipts()) == sorted(ids)
    assert counters.sent == count
    assert 1 <= len(full) < count // 10  # logged once per episode, not per message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_endpoint_reports_the_running_consumer(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 50
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory()
    port = _free_port()
    settings = settings_for(embedded_broker, sink, source, dlq, workers=7, metrics_port=port)
    with ServiceThread(settings) as running:
        wait_until(lambda: running.service.finished >= count, 30, "every event finished")
        wait_until(lambda: running.service.metrics.gauges.workers == 7, 5, "gauges refreshed")
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    assert f"poolbench_emails_sent_total {count}.0" in text
    assert "poolbench_workers 7.0" in text
    assert "poolbench_assigned_partitions 4.0" in text
    assert "poolbench_circuit_breaker_state 0.0" in text
    assert f"poolbench_send_latency_seconds_count {count}.0" in text


@pytest.mark.slow
def test_a_second_consumer_joining_splits_the_partitions_and_nothing_is_lost(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 600
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    sink = sink_factory(latency=parse_latency("2ms"))
    group = unique("group")
    settings = settings_for(embedded_broker, sink, source, dlq, workers=5, kafka_group=group)
    values = [(i, event_value(i)) for i in ids]
    first = ServiceThread(settings)
    second = ServiceThread(settings)

    def delivered() -> set[str]:
        return {r.id for r in sink.receipts()}

    with (
        first,
        background(lambda: produce(embedded_broker.bootstrap_servers, source, values, rate=120)),
    ):
        wait_until(lambda: len(delivered()) >= 100, 30, "the first consumer to send")
        with second:
            wait_until(lambda: second.service.counters.sent > 0, 30, "the second consumer to send")
            wait_until(lambda: delivered() == set(ids), 60, "every id at the sink")
            b = second.stop()
        a = first.stop()
    assert a.sent > 0 and b.sent > 0  # the partitions were split
    assert delivered() == set(ids)  # nothing lost
    # Duplicates are allowed (at least once) and counted: the consumers' counts agree with
    # the sink's. (librdkafka's mock broker refuses commits while a rebalance is joining,
    # so offsets sent since the last periodic commit are sent again by the new owner.)
    duplicates = sink.counters().duplicates
    assert a.sent + b.sent == count + duplicates == len(sink.receipts())


@pytest.mark.slow
def test_past_the_shutdown_timeout_only_finished_events_are_committed(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    count = 60
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    slow = sink_factory(latency=parse_latency("400ms"))
    group = unique("group")
    settings = settings_for(
        embedded_broker, slow, source, dlq, workers=4, buffer=20, kafka_group=group
    )
    with ServiceThread(replace(settings, shutdown_timeout_s=0.5)) as running:
        wait_until(lambda: running.service.counters.sent >= 4, 30, "the first emails")
        first = running.stop()
    assert first.timed_out
    assert 0 < first.sent < count
    assert first.left_uncommitted > 0  # abandoned: left for redelivery, not lost
    assert first.consumed == first.sent + first.dead_lettered + first.left_uncommitted
    committed = _committed_total(embedded_broker.bootstrap_servers, group, source, 4)
    assert committed <= first.sent  # never past an unfinished event
    # A restart with a fast sink delivers every id that was not delivered before.
    fast = sink_factory()
    rest = count - committed
    again = run_service(ConsumerService(replace(settings, smtp_port=fast.port), max_events=rest))
    assert again.sent == rest
    assert {r.id for r in slow.receipts()} | {r.id for r in fast.receipts()} == set(ids)


@pytest.mark.parametrize("reuse", [True, False])
def test_connections_are_kept_per_worker_or_opened_per_email(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, reuse: bool
) -> None:
    count = 60
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory()
    settings = settings_for(embedded_broker, sink, source, dlq, workers=4, connection_reuse=reuse)
    counters = run_service(ConsumerService(settings, max_events=count))
    assert counters.sent == count
    assert {r.id for r in sink.receipts()} == set(ids)
    connections = sink.counters().connections_total
    if reuse:
        assert connections <= 4  # one kept connection per worker
    else:
        assert connections == count  # the Go service's way: one per email


@pytest.mark.parametrize("reuse", [True, False])
def test_on_the_consumers_own_event_loop_every_event_arrives_once(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory, reuse: bool
) -> None:
    # run_consumer's loop (uvloop where installed), not the default one of asyncio.run.
    count = 200
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory()
    settings = settings_for(embedded_broker, sink, source, dlq, workers=20, connection_reuse=reuse)
    service = ConsumerService(settings, max_events=count)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        counters = runner.run(asyncio.wait_for(service.run(), 60))
    assert sorted(r.id for r in sink.receipts()) == sorted(ids)
    assert counters.sent == count
    assert counters.dead_lettered == counters.left_uncommitted == 0


def test_a_burst_of_replies_starts_its_emails_a_few_per_loop_pass(
    embedded_broker: EmbeddedBroker, sink_factory: SinkFactory
) -> None:
    # Issue 24: twenty workers at a fixed 20 ms get their replies in bursts; by default a
    # burst's next emails start one per loop pass (start_gate.py), not all in one, which
    # kept the workers in step (a convoy). Counted: the starts that waited for a later
    # pass (about 100 of 120 here; the gate's own test counts starts per pass against a
    # gateless control).
    count = 120
    source, dlq = topics(embedded_broker)
    ids = new_ids(count)
    produce(embedded_broker.bootstrap_servers, source, [(i, event_value(i)) for i in ids])
    sink = sink_factory(latency=parse_latency("20ms"))
    settings = settings_for(
        embedded_broker, sink, source, dlq, workers=20, buffer=40, connection_reuse=False
    )
    assert settings.starts_per_pass == 1  # on by default
    service = ConsumerService(settings, max_events=count)
    counters = run_service(service)
    assert counters.sent == count
    gate = service.start_gate
    assert gate is not None
    assert gate.waited >= count // 4  # bursts were spread, not started in one pass
    assert {r.id for r in sink.receipts()} == set(ids)
    # The same counts on /metrics, for an operator to see the gate at work.
    text = service.metrics.exposition()
    assert f"poolbench_start_gate_waited_total {float(gate.waited)}" in text
    assert f"poolbench_start_gate_passes_total {float(gate.passes)}" in text
    assert gate.passes > 0
