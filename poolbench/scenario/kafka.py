"""Producer choices a scenario implies, for the runner (pure).

`effective_compression`: what `load.compression: auto` means for this scenario;
`load_profile`: the load's rate profile, typed; `retention_warning`: whether the
embedded broker's retention is likely to drop messages of this load.
"""

from __future__ import annotations

from typing import Final

from poolbench.loadgen.schedule import RateProfile, constant, steps_profile
from poolbench.scenario.model import COMPRESSION_AUTO, Load, Scenario

# librdkafka's mock cluster keeps about 5 MiB (or 100k batches) per partition and
# silently deletes older messages (tests/test_broker.py shows the drop). Measured with
# benchmarks/test_bench_loadgen.py::test_retention_kept_events: uncompressed, one
# partition kept 10.6k of 30k default events of 349 bytes, ~492 bytes a record, so the
# headers and framing add ~143 bytes to a value.
RETENTION_BYTES_PER_PARTITION: Final = 5 * 1024 * 1024
RETENTION_BATCHES_PER_PARTITION: Final = 100_000
RECORD_OVERHEAD_BYTES: Final = 143
# How much smaller compression makes a record, as a floor. Measured on default events at
# `--rate max` (large batches): lz4 kept 118k (~11x), gzip 196k (~19x), zstd 225k (~22x).
# Small batches (low rates per partition) compress far less, so 4x is what we count on.
COMPRESSION_FACTOR: Final = {"none": 1.0, "gzip": 4.0, "snappy": 4.0, "lz4": 4.0, "zstd": 4.0}
# At most this many events a second per partition go out one per batch (linger.ms 1).
_ONE_PER_BATCH_RATE: Final = 1000.0


def effective_compression(scenario: Scenario) -> str:
    """The codec the load generator uses: `load.compression`, with `auto` resolved.

    `auto` is lz4 for poolbench's own consumer (librdkafka reads it, and it keeps the
    embedded broker's small retention from dropping messages) and none for a foreign
    consumer (`consumer.command`): every mainstream client reads uncompressed batches,
    and some (kafkajs) have no built-in lz4.
    """
    chosen = scenario.load.compression
    if chosen != COMPRESSION_AUTO:
        return chosen
    return "none" if scenario.consumer.foreign else "lz4"


def load_profile(load: Load) -> RateProfile | None:
    """The rate profile of the load, typed; None for `saturate` (no schedule).

    A scenario's profile loops: its steps are repeated to cover the whole load
    (warm-up included), since the load generator holds the last step.
    """
    if load.rate_per_s is not None:
        return constant(load.rate_per_s)
    if not load.profile:
        return None
    steps = [(step.rate_per_s, step.duration_s) for step in load.profile]
    return steps_profile(steps, cover_s=load.total_s)


def retention_warning(
    *,
    rate_per_s: float | None,
    count: int | None,
    duration_s: float,
    message_bytes: int,
    partitions: int,
    compression: str,
) -> str | None:
    """A warning when the load likely exceeds the embedded broker's retention, else None.

    `rate_per_s` None means as fast as possible (then only `count` bounds the load);
    `message_bytes` is one event's value (headers are added here); `duration_s` is how
    long the load runs. An estimate: keyless events spread evenly over the partitions.
    """
    expected = [n for n in (count, None if rate_per_s is None else rate_per_s * duration_s) if n]
    if not expected or partitions < 1:
        return None
    events = min(expected)
    per_partition = events / partitions
    factor = COMPRESSION_FACTOR.get(compression, 1.0)
    stored = per_partition * (message_bytes + RECORD_OVERHEAD_BYTES) / factor
    mib = RETENTION_BYTES_PER_PARTITION / 1024 / 1024
    where = (
        f"~{events:,.0f} events of {message_bytes} bytes over {partitions} partition(s), "
        f"compression {compression}"
    )
    if stored > RETENTION_BYTES_PER_PARTITION:
        advice = "more partitions or a shorter load"
        if compression == "none":
            advice += ", or compression lz4"
        return (
            f"{where}: ~{stored / 1024 / 1024:.1f} MiB per partition, above the embedded "
            f"broker's ~{mib:g} MiB; it will drop older messages (reported as dropped by "
            f"the broker). Use {advice}."
        )
    slow = rate_per_s is not None and rate_per_s / partitions <= _ONE_PER_BATCH_RATE
    if slow and per_partition > RETENTION_BATCHES_PER_PARTITION:
        return (
            f"{where}: ~{per_partition:,.0f} events per partition, mostly one per batch at "
            f"this rate, above the embedded broker's {RETENTION_BATCHES_PER_PARTITION:,} "
            "batches; it will drop older messages. Use more partitions or a shorter load."
        )
    return None
