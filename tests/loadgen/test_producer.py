from __future__ import annotations

import json
import random
import socket
import time

import pytest

from poolbench.broker import EmbeddedBroker, watermarks
from poolbench.errors import ConfigError, UnreachableError
from poolbench.loadgen import LoadProgress, LoadReport, LoadSpec, run_load
from poolbench.metrics.clock import ManualClock
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS, decode_event
from tests.loadgen.kafka_client import consume_all, group_consumer, new_topic, take


@pytest.mark.parametrize("partitions", [1, 8])
def test_n_produced_are_n_consumed_with_valid_events_and_headers(
    embedded_broker: EmbeddedBroker, partitions: int
) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, partitions)
    spec = LoadSpec(topic=topic, rate="5000/s", count=300, data_bytes=200, keys="roundrobin:50")
    before = time.monotonic_ns()
    report = run_load(spec, bootstrap_servers=address)
    after = time.monotonic_ns()
    assert report.complete
    assert report.produced == report.acknowledged == 300
    assert report.partitions == partitions
    assert report.first_offsets == dict.fromkeys(range(partitions), 0)
    got = consume_all(address, topic, 300)
    assert len(got) == 300
    ids = set()
    for message in got:
        event = decode_event(message.value)
        assert message.headers[HEADER_ID].decode() == event.message.id
        assert event.message.id.startswith(report.id_prefix)
        intended = int(message.headers[HEADER_INTENDED_NS])
        sent = int(message.headers[HEADER_SENT_NS])
        # Intended and sent stamps are CLOCK_MONOTONIC (the sink's and the consumer's
        # clock): they lie between the test's own readings of it around the run.
        assert before <= report.start_stamp_ns <= intended <= sent <= after
        assert message.key is not None
        ids.add(event.message.id)
    assert len(ids) == 300
    assert {m.partition for m in got} == set(range(partitions))
    # Nothing dropped by the broker's retention: each low watermark is still at or below
    # the first offset this run produced to its partition.
    marks = watermarks(address, topic)
    assert all(marks[p][0] <= first for p, first in report.first_offsets.items())


def test_resume_from_commit_delivers_the_rest_once(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 8)
    run_load(LoadSpec(topic=topic, count=200), bootstrap_servers=address)
    group = f"{topic}-group"
    first = consume_all(address, topic, 80, group=group)
    rest = consume_all(address, topic, 200 - len(first), group=group)
    first_ids = {m.headers[HEADER_ID] for m in first}
    rest_ids = {m.headers[HEADER_ID] for m in rest}
    assert len(first) == 80
    assert len(rest) == 120
    assert not first_ids & rest_ids
    assert len(first_ids | rest_ids) == 200


@pytest.mark.slow
def test_two_consumers_split_the_partitions(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 8)
    run_load(LoadSpec(topic=topic, count=400), bootstrap_servers=address)
    group = f"{topic}-group"
    one = group_consumer(address, topic, group)
    two = group_consumer(address, topic, group)
    try:
        seen: dict[bytes, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for index, consumer in enumerate((one, two)):
                for message in take(consumer, 100, timeout=0.2):
                    seen[message.headers[HEADER_ID]] = index
            assignments = [{tp.partition for tp in c.assignment()} for c in (one, two)]
            if len(seen) == 400 and all(assignments):
                break
        assert len(seen) == 400
        assert all(assignments)
        assert not assignments[0] & assignments[1]
        assert assignments[0] | assignments[1] == set(range(8))
    finally:
        one.close()
        two.close()


def test_schedule_on_a_manual_clock_is_exact(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    clock = ManualClock()
    start = clock.stamp_ns()
    spec = LoadSpec(topic=topic, rate="1000/s", count=50, id_nonce=1)
    report = run_load(spec, bootstrap_servers=address, clock=clock, sleep=clock.advance)
    got = consume_all(address, topic, 50)
    intended = sorted(int(m.headers[HEADER_INTENDED_NS]) for m in got)
    assert intended == [start + i * 1_000_000 for i in range(50)]
    assert all(m.headers[HEADER_SENT_NS] == m.headers[HEADER_INTENDED_NS] for m in got)
    assert report.schedule_lag_ms["max"] <= 0.001
    assert report.target_rate == pytest.approx(1000)


def test_falling_behind_sends_late_but_never_moves_the_schedule(
    embedded_broker: EmbeddedBroker,
) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    clock = ManualClock()
    start = clock.stamp_ns()

    def oversleep(seconds: float) -> None:
        clock.advance(seconds + 0.005)  # every nap overshoots by 5 ms

    spec = LoadSpec(topic=topic, rate="1000/s", count=40)
    report = run_load(spec, bootstrap_servers=address, clock=clock, sleep=oversleep)
    got = consume_all(address, topic, 40)
    intended = sorted(int(m.headers[HEADER_INTENDED_NS]) for m in got)
    assert intended == [start + i * 1_000_000 for i in range(40)]
    lags = [int(m.headers[HEADER_SENT_NS]) - int(m.headers[HEADER_INTENDED_NS]) for m in got]
    assert min(lags) >= 0
    assert max(lags) >= 4_000_000
    assert report.schedule_lag_ms["max"] >= 4.0


def test_duration_bounds_the_run(embedded_broker: EmbeddedBroker) -> None:
    topic = new_topic(embedded_broker, 2)
    clock = ManualClock()
    spec = LoadSpec(topic=topic, rate="200/s", duration="500ms")
    report = run_load(
        spec, bootstrap_servers=embedded_broker.bootstrap_servers, clock=clock, sleep=clock.advance
    )
    assert report.produced == 100
    assert not report.stopped_early


def test_stop_ends_the_run_early_and_flushes(embedded_broker: EmbeddedBroker) -> None:
    import threading

    topic = new_topic(embedded_broker, 2)
    stop = threading.Event()
    progress: list[LoadProgress] = []

    def on_progress(p: LoadProgress) -> None:
        progress.append(p)
        stop.set()

    spec = LoadSpec(topic=topic, rate="100/s", duration="60s")
    started = time.monotonic()
    report = run_load(
        spec,
        bootstrap_servers=embedded_broker.bootstrap_servers,
        stop=stop,
        on_progress=on_progress,
    )
    assert time.monotonic() - started < 30
    assert report.stopped_early
    assert 0 < report.produced < 6000
    assert report.acknowledged == report.produced
    assert progress
    assert progress[0].produced <= report.produced


def test_poison_events_are_reported_by_id(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    report = run_load(
        LoadSpec(topic=topic, count=300, poison=0.1, seed=3), bootstrap_servers=address
    )
    assert sum(report.poison.values()) == len(report.poison_ids) > 0
    bad = set()
    for message in consume_all(address, topic, 300):
        try:
            decode_event(message.value)
        except ValueError:
            bad.add(message.headers[HEADER_ID].decode())
    assert bad == set(report.poison_ids)


def test_report_round_trips_through_json(embedded_broker: EmbeddedBroker) -> None:
    topic = new_topic(embedded_broker, 3)
    report = run_load(
        LoadSpec(topic=topic, count=30, poison=0.2),
        bootstrap_servers=embedded_broker.bootstrap_servers,
    )
    doc = json.loads(report.to_json())
    assert doc["produced"] == 30
    assert doc["spec"]["rate"] == "max"
    assert LoadReport.from_dict(doc) == report


def test_unreachable_broker_is_a_clear_error_in_bounded_time() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=f"127.0.0.1:{port}"):
        run_load(LoadSpec(count=10, connect_timeout=1.5), bootstrap_servers=f"127.0.0.1:{port}")
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("kwargs", "what", "fragment"),
    [
        ({"rate": "fast", "count": 1}, "rate", "expected 'max'"),
        ({"count": -1}, "count", "must not be negative"),
        ({}, "count", "bound the run"),
        ({"count": 1, "backlog": 10}, "backlog", "the consumer group whose commits"),
        ({"count": 1, "duration": "soon"}, "duration", "expected a duration"),
        ({"count": 1, "compression": "brotli"}, "compression", "one of none, gzip"),
        ({"count": 1, "poison": 1.5}, "poison", "within 0..1"),
        ({"count": 1, "rate": "wave:1/s"}, "rate", "unknown profile"),
        ({"count": 1, "connect_timeout": 0}, "connect_timeout", "must be positive"),
        ({"count": 1, "linger_ms": -1}, "linger_ms", "must not be negative"),
        ({"count": 1, "data_bytes": -1}, "data_bytes", "must not be negative"),
    ],
)
def test_bad_specs_are_config_errors_about_a_field(
    kwargs: dict[str, object], what: str, fragment: str
) -> None:
    from poolbench.cli.edge import fields
    from poolbench.cli.produce import produce_flags

    with pytest.raises(ConfigError, match=fragment) as caught:
        LoadSpec(**kwargs)  # type: ignore[arg-type]
    assert caught.value.what == what
    assert "--" not in str(caught.value)  # the library names no flag
    # `poolbench produce` shows it at the flag that sets the field.
    flags = produce_flags()
    with pytest.raises(ConfigError, match=fragment) as located, fields(flags):
        LoadSpec(**kwargs)  # type: ignore[arg-type]
    assert str(located.value).startswith(f"{flags[what]}: ")


def test_a_backlog_gate_goes_only_with_max_or_saturate() -> None:
    from poolbench.cli.edge import fields
    from poolbench.cli.produce import produce_flags

    with pytest.raises(ConfigError, match="only with rate max or saturate") as caught:
        LoadSpec(rate="500/s", backlog=10, group="g", count=5)
    assert caught.value.what == "backlog"
    with pytest.raises(ConfigError) as located, fields(produce_flags()):
        LoadSpec(rate="500/s", backlog=10, group="g", count=5)
    assert str(located.value) == (
        "--backlog: only with --rate max or saturate, got --rate 500/s; "
        "a paced schedule must not wait for the consumer"
    )
    assert LoadSpec(rate="max", backlog=10, group="g", count=5).backlog == 10


def test_saturate_without_a_group_does_not_name_backlog() -> None:
    with pytest.raises(ConfigError, match="saturate needs a consumer group") as caught:
        LoadSpec(rate="saturate", count=5)
    assert caught.value.what == "rate"
    assert "backlog" not in str(caught.value)


def test_saturate_means_max_with_a_backlog() -> None:
    spec = LoadSpec(rate="saturate", group="g", count=5)
    assert spec.profile.is_max
    assert spec.backlog == 2000


class _Msg:
    def __init__(self, value: bytes, partition: int, offset: int) -> None:
        self._value, self._partition, self._offset = value, partition, offset

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def test_delivery_reports_are_kept_by_sequence_number() -> None:
    from poolbench.loadgen.events import EventFactory, EventKnobs
    from poolbench.loadgen.producer import _Deliveries

    factory = EventFactory(EventKnobs(poison_share=0.5), random.Random(1), nonce=5)
    deliveries = _Deliveries()
    callback = deliveries.callback(factory.id_prefix.encode())
    events = [factory.make(seq, 0) for seq in range(40)]
    assert {kind for *_, kind in events} >= {"malformed_json", None}
    for seq, (_id, _key, value, _kind) in enumerate(events):
        callback("timed out" if seq == 7 else None, _Msg(value, seq % 3, seq // 3))
    assert list(deliveries.acked_seq) == [s for s in range(40) if s != 7]
    assert list(deliveries.acked_partition) == [s % 3 for s in range(40) if s != 7]
    assert list(deliveries.acked_offset) == [s // 3 for s in range(40) if s != 7]
    assert list(deliveries.failed_seq) == [7]
    assert deliveries.first_error == "timed out"


def test_a_wall_clock_step_mid_run_moves_no_stamp(embedded_broker: EmbeddedBroker) -> None:
    """The wall clock jumps back an hour 20 ms into the schedule (an NTP step): the
    intended and sent stamps keep to the monotonic schedule."""
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 1)
    clock = ManualClock()
    start = clock.stamp_ns()
    steps: list[float] = []

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if clock.now >= 0.02 and not steps:
            clock.step_wall(-3600.0)
            steps.append(clock.now)

    spec = LoadSpec(topic=topic, rate="1000/s", count=50, id_nonce=2)
    report = run_load(spec, bootstrap_servers=address, clock=clock, sleep=sleep)
    got = consume_all(address, topic, 50)
    intended = sorted(int(m.headers[HEADER_INTENDED_NS]) for m in got)
    assert len(steps) == 1
    assert intended == [start + i * 1_000_000 for i in range(50)]
    assert all(m.headers[HEADER_SENT_NS] == m.headers[HEADER_INTENDED_NS] for m in got)
    assert report.start_mono_ns == start
