"""Synthetic shard outputs: load reports, receipts and manifests with known numbers."""

from __future__ import annotations

import dataclasses
import random
from array import array
from pathlib import Path
from typing import Any

from poolbench.loadgen.report import LoadReport
from poolbench.merge.inputs import Inputs, LedgerInput, LoadInput, SummaryInput
from poolbench.merge.manifest import ShardManifest, params_hash
from poolbench.metrics.clock import ClockPair
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import Environment, Latency, Memory, PointResult, ResultSet, TimelineSample
from poolbench.sink.receipt import Receipt

T0 = 1_800_000_000_000_000_000
RATE = 100.0  # events per second, all shards together
DURATION_S = 2.0


def event_id(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:012x}"


def prefix(shard: int) -> str:
    return f"0000000{shard}-0000-4000-8000-"


def load_report(
    shard: int, shards: int, *, produced: int, start_ns: int = T0, acknowledged: int | None = None
) -> LoadReport:
    acked = produced if acknowledged is None else acknowledged
    return LoadReport(
        spec={"rate": f"{RATE:g}/s", "duration_s": DURATION_S, "count": None, "backlog": None},
        partitions=4,
        produced=produced,
        acknowledged=produced if acknowledged is None else acknowledged,
        delivery_errors=0 if acknowledged is None else produced - acknowledged,
        first_error="",
        elapsed_s=DURATION_S,
        send_elapsed_s=DURATION_S,
        achieved_rate=produced / DURATION_S,
        send_rate=produced / DURATION_S,
        target_rate=RATE / shards,
        schedule_lag_ms={"avg": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0},
        first_offsets={0: 0},
        poison={},
        poison_ids=(),
        id_prefix=prefix(shard),
        backlog_max=None,
        stopped_early=False,
        start_wall_ns=start_ns,
        # The broker took the shard's first `acked` events (local sequence numbers).
        acked_seq=array("q", range(acked)),
        acked_partition=array("q", (seq % 4 for seq in range(acked))),
        acked_offset=array("q", (seq // 4 for seq in range(acked))),
    )


def manifest(
    role: str,
    shard: int,
    shards: int,
    output: str,
    *,
    params: dict[str, Any] | None = None,
    clock_offset_ns: int | None = None,
) -> ShardManifest:
    chosen = params if params is not None else {"role": role, "shards": shards}
    return ShardManifest(
        role=role,
        shard=shard,
        shards=shards,
        output=output,
        params=chosen,
        params_hash=params_hash(chosen),
        host=f"host-{role}-{shard}",
        clock_offset_ns=clock_offset_ns,
        clock_source="test" if clock_offset_ns is not None else None,
    )


def receipt(rid: str, intended_ns: int, latency_ns: int) -> Receipt:
    return Receipt(
        id=rid,
        intended_ns=intended_ns,
        started_ns=intended_ns + latency_ns // 2,
        received_ns=intended_ns + latency_ns,
        mail_from="noreply@poolbench.test",
        rcpt_tos=("user0@poolbench.test",),
        size=100,
    )


def schedule(shards: int) -> list[tuple[int, int, int]]:
    """(shard, local seq, intended ns) of every event of the pooled schedule."""
    total = int(RATE * DURATION_S)
    step = round(1e9 / RATE)
    return [(g % shards, g // shards, T0 + g * step) for g in range(total)]


def latency_ns(rng: random.Random) -> int:
    # Two clusters, so the p99 sits in the slow one and an average of shards would be off.
    return int(rng.choice([5e6, 5e6, 5e6, 80e6]) * rng.uniform(0.5, 1.5))


def inputs(
    *,
    loads: int = 2,
    sinks: int = 2,
    seed: int = 1,
    drop: frozenset[str] = frozenset(),
    twice: frozenset[str] = frozenset(),
    foreign: int = 0,
    starts: list[int] | None = None,
    offsets: list[int | None] | None = None,
    sink_offsets: list[int | None] | None = None,
) -> Inputs:
    """`loads` load shards and `sinks` sinks of one 100/s, 2 s schedule, all delivered
    except `drop`; `twice`: ids also received by the next sink; `foreign`: extra ids.
    `offsets` / `sink_offsets`: each host's clock is that far ahead, in its stamps and
    its manifest (None: unknown, and exact)."""

    def ahead(offsets_ns: list[int | None] | None, index: int) -> int:
        return 0 if offsets_ns is None else offsets_ns[index] or 0

    rng = random.Random(seed)
    here = Path("/shards")
    counts = [0] * loads
    per_sink: list[list[Receipt]] = [[] for _ in range(sinks)]
    for shard, local, intended in schedule(loads):
        counts[shard] += 1
        rid = event_id(prefix(shard), local)
        if rid in drop:
            continue
        sink = (shard + local) % sinks
        stamped = receipt(rid, intended + ahead(offsets, shard), latency_ns(rng))
        shift = ahead(sink_offsets, sink) - ahead(offsets, shard)
        per_sink[sink].append(dataclasses.replace(stamped, received_ns=stamped.received_ns + shift))
        if rid in twice:
            per_sink[(sink + 1) % sinks].append(receipt(rid, intended, latency_ns(rng) * 2))
    for k in range(foreign):
        per_sink[0].append(receipt(f"ffffffff-0000-4000-8000-{k:012x}", T0 + k, 1_000_000))
    load_inputs = []
    manifests = []
    for shard in range(loads):
        path = here / f"load-{shard}" / "load.json"
        m = manifest(
            "load",
            shard,
            loads,
            "load.json",
            clock_offset_ns=None if offsets is None else offsets[shard],
        )
        manifests.append((path.with_name("load.manifest.json"), m))
        start = (T0 if starts is None else starts[shard]) + ahead(offsets, shard)
        load_inputs.append(
            LoadInput(
                path=path,
                report=load_report(shard, loads, produced=counts[shard], start_ns=start),
                manifest=m,
            )
        )
    ledgers = []
    for sink in range(sinks):
        path = here / f"sink-{sink}" / "sink.jsonl"
        m = manifest(
            "sink",
            sink,
            sinks,
            "sink.jsonl",
            params={"latency": "5ms", "shards": sinks},
            clock_offset_ns=None if sink_offsets is None else sink_offsets[sink],
        )
        manifests.append((path.with_name("sink.manifest.json"), m))
        ledgers.append(LedgerInput(path=path, receipts=tuple(per_sink[sink]), manifest=m))
    summaries = tuple(
        SummaryInput(
            path=here / f"consumer-{k}" / "summary.json",
            summary={"consumed": 0, "sent": 0, "dead_lettered": 0, "retried": 1},
        )
        for k in range(sinks)
    )
    return Inputs(
        manifests=tuple(manifests),
        loads=tuple(load_inputs),
        ledgers=tuple(ledgers),
        summaries=summaries,
    )


def measured_point(rng: random.Random, workers: int, *, samples: int = 300) -> PointResult:
    """A stored point with a real histogram of `samples` latencies and a 3 s timeline."""
    hist = LatencyHistogram()
    for _ in range(samples):
        hist.record_ns(latency_ns(rng))
    produced = samples + 2
    return PointResult(
        params={"consumer.workers": workers},
        repeat=0,
        load_mode="open",
        throughput_per_s=samples / 3.0,
        ideal_throughput_per_s=float(workers * 10),
        latency_ms=Latency.from_mapping(hist.summary().as_dict()),
        memory_mb=Memory(peak=41.0, mean=40.0),
        cpu_percent=12.0,
        produced=produced,
        delivered=samples,
        lost=1,
        dead_lettered=1,
        offered_per_s=float(samples / 3.0),
        kept_up=True,
        cpu_by_part={"sink": 3.0},
        timeline=tuple(
            TimelineSample(
                t_s=float(t),
                delivered_per_s=samples / 3.0,
                queue_depth=1.0,
                p99_ms=5.0,
                rss_mb=40.0,
            )
            for t in range(3)
        ),
        histogram=hist.encode(),
    )


def result_set(seed: int, scenario_hash: str = "a" * 64) -> ResultSet:
    rng = random.Random(seed)
    return ResultSet(
        scenario_name="shards",
        scenario={"name": "shards"},
        scenario_hash=scenario_hash,
        environment=Environment(
            host="test-host",
            platform="Linux-test",
            machine="Linux x86_64",
            cpu_model="Test CPU",
            cpu_count=2,
            python="3.11.9",
            versions={"poolbench": "0.1.0"},
            git_commit="0" * 40,
            created_utc="2026-12-02T07:00:00Z",
        ),
        points=(measured_point(rng, 5), measured_point(rng, 10)),
    )


def on_monotonic(
    given: Inputs, *, load_boots: list[int], sink_boots: list[int], host: str | None = None
) -> Inputs:
    """`given` as shards write it now (manifest format 2): each host stamps its
    CLOCK_MONOTONIC, which counts from its boot (`*_boots`: the wall time of each host's
    boot), and pairs it with its own wall clock at the start. The consumers' start stamps
    are on their sink's host's clock. `host`: every manifest names that one host."""
    boot_of = {
        item.report.id_prefix: boot for item, boot in zip(given.loads, load_boots, strict=True)
    }

    def moved(r: Receipt, sink_boot: int) -> Receipt:
        load_boot = boot_of.get(r.id[:-12], sink_boot)
        return dataclasses.replace(
            r,
            intended_ns=None if r.intended_ns is None else r.intended_ns - load_boot,
            started_ns=None if r.started_ns is None else r.started_ns - sink_boot,
            received_ns=r.received_ns - sink_boot,
        )

    def relabel(m: ShardManifest | None, pair: ClockPair) -> ShardManifest | None:
        if m is None:
            return None
        return dataclasses.replace(m, clock_pair=pair, host=host or m.host)

    loads = []
    for item, boot in zip(given.loads, load_boots, strict=True):
        wall = item.report.start_wall_ns
        loads.append(
            dataclasses.replace(
                item,
                report=dataclasses.replace(item.report, start_mono_ns=wall - boot),
                manifest=relabel(item.manifest, ClockPair(wall_ns=wall, monotonic_ns=wall - boot)),
            )
        )
    ledgers = []
    for ledger, boot in zip(given.ledgers, sink_boots, strict=True):
        offset = 0 if ledger.manifest is None else ledger.manifest.clock_offset_ns or 0
        pair = ClockPair(wall_ns=T0 + offset, monotonic_ns=T0 + offset - boot)
        ledgers.append(
            dataclasses.replace(
                ledger,
                receipts=tuple(moved(r, boot) for r in ledger.receipts),
                manifest=relabel(ledger.manifest, pair),
            )
        )
    by_path = {**{i.path: i.manifest for i in loads}, **{x.path: x.manifest for x in ledgers}}
    manifests = []
    for path, m in given.manifests:
        output = path.with_name(m.output)
        mine = by_path.get(output)
        manifests.append((path, mine if mine is not None else m))
    return dataclasses.replace(
        given, loads=tuple(loads), ledgers=tuple(ledgers), manifests=tuple(manifests)
    )
