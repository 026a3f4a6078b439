"""The start-up heap is frozen, so a full collection walks only what came after it.

Counted, not timed: the objects a full collection walks are those of generation 2 and
younger (`gc.get_objects`); frozen objects are in none of them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.consumer import service as service_module
from poolbench.consumer.gc_tuning import freeze_startup_heap
from poolbench.consumer.service import ConsumerService
from poolbench.sink import SinkServer, parse_latency
from tests.consumer.e2e import event_value, new_ids, produce, run_service, settings_for, topics


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests expect a normal collector


def _walked_by_a_full_collection() -> int:
    return len(gc.get_objects())


def test_freezing_takes_the_live_heap_out_of_full_collections(unfrozen: None) -> None:
    keep = [{"n": i} for i in range(20_000)]  # a start-up heap: alive for good
    walked_before = _walked_by_a_full_collection()
    assert walked_before >= 20_000
    frozen = freeze_startup_heap()
    assert frozen >= 20_000
    after = [[i] for i in range(500)]  # what a running consumer allocates
    walked_after = _walked_by_a_full_collection()
    assert walked_after < walked_before - 19_000
    assert walked_after >= len(after)
    del keep, after


def test_the_consumer_freezes_its_heap_once_before_the_first_email(
    unfrozen: None,
    embedded_broker: EmbeddedBroker,
    sink_factory: Callable[..., SinkServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []  # (emails the sink had received, objects frozen)
    sink = sink_factory(latency=parse_latency("1ms"))

    def counting() -> int:
        received = sink.counters().received
        frozen = freeze_startup_heap()
        calls.append((received, frozen))
        return frozen

    monkeypatch.setattr(service_module, "freeze_startup_heap", counting)
    count = 20
    source, dlq = topics(embedded_broker)
    events = [(i, event_value(i)) for i in new_ids(count)]
    produce(embedded_broker.bootstrap_servers, source, events)
    settings = settings_for(embedded_broker, sink, source, dlq, workers=2, buffer=4)
    counters = run_service(ConsumerService(settings, max_events=count))
    assert counters.sent == count
    assert len(calls) == 1
    received, frozen = calls[0]
    assert received == 0  # before the first email
    assert frozen >= 10_000  # modules, templates, clients: the start-up heap
