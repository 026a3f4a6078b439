from __future__ import annotations

import itertools
import random
import threading

import pytest

from poolbench.broker import EmbeddedBroker
from poolbench.errors import ConfigError
from poolbench.loadgen import LoadSpec, run_load
from poolbench.loadgen.events import EventFactory, EventKnobs
from poolbench.loadgen.schedule import parse_profile
from poolbench.loadgen.shard import (
    MAX_SHARDS,
    Shard,
    ShardProfile,
    StartAtClock,
    load_params,
    parse_shard,
    shard_count,
    shard_profile,
    shard_spec,
)
from poolbench.metrics.clock import ManualClock
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS
from tests.loadgen.kafka_client import consume_all, new_topic


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/3", 0, 3), (" 2 / 3 ", 2, 3), ("0/1", 0, 1)]
)
def test_parse_shard(text: str, index: int, count: int) -> None:
    assert parse_shard(text) == Shard(index=index, count=count)
    assert parse_shard(text).text == f"{index}/{count}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("3", "shard: expected I/N, e.g. 0/3 (shard 0 of 3), got '3'"),
        ("a/3", "expected I/N"),
        ("-1/3", "expected I/N"),
        ("3/3", "shard: shard index must be within 0..2 for 3 shards, got '3/3'"),
        ("0/0", "shard count must be within 1..16384, got '0/0'"),
        (f"0/{MAX_SHARDS + 1}", f"within 1..{MAX_SHARDS}"),
    ],
)
def test_bad_shards_are_clear_config_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_shard(text)
    assert fragment in str(err.value)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_sequence_numbers(count: int) -> None:
    shards = [Shard(index=i, count=count) for i in range(count)]
    for total in range(0, 30):
        owned = [[s for s in range(total) if shard.owns(s)] for shard in shards]
        assert sorted(itertools.chain.from_iterable(owned)) == list(range(total))
        assert [len(o) for o in owned] == [shard.local_count(total) for shard in shards]
        for shard, seqs in zip(shards, owned, strict=True):
            assert seqs == [shard.global_seq(k) for k in range(len(seqs))]
        assert sum(shard_count(total, shard) or 0 for shard in shards) == total
    assert shard_count(None, shards[0]) is None


@pytest.mark.parametrize("rate", ["200/s", "ramp:100/s:900/s:2s", "burst:100/s:1000/s:1s:500ms"])
def test_union_of_shard_schedules_is_the_single_schedule(rate: str) -> None:
    base = parse_profile(rate)
    single = list(itertools.takewhile(lambda t: t < 3.0, base.offsets()))
    union: list[float] = []
    for i in range(3):
        profile = shard_profile(base, Shard(index=i, count=3))
        assert isinstance(profile, ShardProfile)
        assert profile.text == base.text
        mine = list(itertools.takewhile(lambda t: t < 3.0, profile.offsets()))
        assert mine == single[i::3]
        assert profile.expected_count(3.0) == Shard(index=i, count=3).local_count(len(single))
        union.extend(mine)
    assert sorted(union) == single


def test_max_and_a_single_shard_keep_the_profile() -> None:
    base = parse_profile("max")
    assert shard_profile(base, Shard(index=1, count=3)) is base
    rate = parse_profile("50/s")
    assert shard_profile(rate, Shard(index=0, count=1)) is rate
    assert ShardProfile(
        text=rate.text, segments=rate.segments, base=rate, shard=Shard(index=0, count=2)
    ).rate_at(1.0) == pytest.approx(25.0)


def test_ids_never_collide_across_shards_of_one_run() -> None:
    run_nonce = 0x3FF_FFFF_FFFF_FFFF  # the same run nonce for every shard
    prefixes = set()
    knobs = EventKnobs()
    for i in range(1000):
        nonce = Shard(index=i, count=1000).id_nonce(run_nonce)
        prefixes.add(EventFactory(knobs, random.Random(0), nonce=nonce).id_prefix)
    assert len(prefixes) == 1000


def test_shard_seeds_differ_and_one_shard_keeps_the_seed() -> None:
    seeds = {Shard(index=i, count=4).seed(7) for i in range(4)}
    assert len(seeds) == 4
    assert Shard(index=0, count=1).seed(7) == 7
    assert Shard(index=2, count=4).seed(7) == Shard(index=2, count=4).seed(7)


def test_shard_spec_and_params() -> None:
    spec = LoadSpec(rate="300/s", count=10, seed=5)
    shard = Shard(index=2, count=3)
    mine = shard_spec(spec, shard, run_nonce=1)
    assert mine.count == 3  # 2, 5, 8
    assert mine.seed == shard.seed(5)
    assert mine.id_nonce == (1 << 14) | 2
    assert isinstance(mine.profile, ShardProfile)
    params = load_params(spec, shard, 123)
    assert params["shards"] == 3
    assert params["start_at_ns"] == 123
    assert params["rate"] == "300/s"
    assert params["seed"] == 5
    # Every shard of one load shares the parameters (they are hashed into the manifest).
    assert load_params(spec, Shard(index=0, count=3), 123) == params


def test_start_at_clock_waits_for_the_common_origin() -> None:
    manual = ManualClock()
    start_at = manual.wall_ns() + 2_500_000_000
    clock = StartAtClock(start_at, wall=manual.wall_ns, mono=manual.monotonic, sleep=manual.advance)
    t0 = clock.monotonic()
    assert manual.wall_ns() >= start_at
    assert clock.wall_ns() == start_at + round((manual.monotonic() - t0) * 1e9)
    assert clock.late_ns == 0
    manual.advance(1.25)
    assert clock.wall_ns() == start_at + 1_250_000_000


def test_start_at_clock_reports_a_late_start() -> None:
    manual = ManualClock()
    start_at = manual.wall_ns() - 70_000_000
    clock = StartAtClock(start_at, wall=manual.wall_ns, mono=manual.monotonic, sleep=manual.advance)
    assert clock.wall_ns() == manual.wall_ns()
    assert clock.late_ns == 70_000_000


def test_start_at_clock_stops_waiting_when_told() -> None:
    manual = ManualClock()
    stop = threading.Event()
    stop.set()
    clock = StartAtClock(
        manual.wall_ns() + 10**12, wall=manual.wall_ns, mono=manual.monotonic, sleep=manual.advance
    ).watch(stop)
    clock.monotonic()
    assert manual.monotonic() == 0.0


def test_three_shards_produce_the_single_schedule(embedded_broker: EmbeddedBroker) -> None:
    address = embedded_broker.bootstrap_servers
    topic = new_topic(embedded_broker, 2)
    manual = ManualClock()
    start_at = manual.wall_ns() + 1_000_000_000
    spec = LoadSpec(topic=topic, rate="1000/s", count=31, seed=3)
    reports = []
    for i in range(3):
        clock = StartAtClock(
            start_at, wall=manual.wall_ns, mono=manual.monotonic, sleep=manual.advance
        )
        mine = shard_spec(spec, Shard(index=i, count=3), run_nonce=42)
        reports.append(run_load(mine, bootstrap_servers=address, clock=clock, sleep=manual.advance))
        manual.now = 0.0  # the next shard "runs on another machine" from the same moment
    got = consume_all(address, topic, 31)
    intended = sorted(int(m.headers[HEADER_INTENDED_NS]) for m in got)
    # Every shard's stamps count from the monotonic reading paired with start_at (the
    # manual clock's 1 s: each "machine" starts from the same manual moment).
    assert {r.start_mono_ns for r in reports} == {1_000_000_000}
    assert intended == [1_000_000_000 + i * 1_000_000 for i in range(31)]
    ids = [m.headers[HEADER_ID].decode() for m in got]
    assert len(set(ids)) == 31
    assert [r.produced for r in reports] == [11, 10, 10]
    assert len({r.id_prefix for r in reports}) == 3
    assert {r.start_wall_ns for r in reports} == {start_at}
    assert all(r.spec["rate"] == "1000/s" for r in reports)
