"""The glue between `--shard` / `--start-at-ns` and the load generator and sink.

`poolbench produce` and `poolbench sink` call these, so their own edits stay a few lines:
parse the flags, split the spec or seed, and write the manifest beside the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poolbench.errors import ConfigError
from poolbench.loadgen.report import LoadReport
from poolbench.loadgen.shard import Shard, StartAtClock, load_params, parse_shard, shard_spec
from poolbench.loadgen.spec import LoadSpec
from poolbench.merge.manifest import make_manifest, write_manifest
from poolbench.metrics.clock import ClockPair, clock_pair


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardedLoad:
    spec: LoadSpec  # the shard's own spec
    clock: StartAtClock | None
    shard: Shard
    params: dict[str, Any]
    report: Path | None

    def write_manifest(self, result: LoadReport) -> Path | None:
        if self.report is None:
            return None
        clock = self.clock
        return write_manifest(
            make_manifest(
                role="load",
                shard=self.shard.index,
                shards=self.shard.count,
                output=self.report,
                params=self.params,
                start_at_ns=None if clock is None else clock.start_at_ns,
                late_ns=None if clock is None else clock.late_ns,
                # The pair the report's stamps are on (its start, read together).
                clock_pair=result.stamp_pair or clock_pair(),
                extra={"id_prefix": result.id_prefix, "seed": self.spec.seed},
            ),
            self.report,
        )


def shard_load(
    spec: LoadSpec, *, shard: str | None, start_at: int | None, report: Path | None
) -> ShardedLoad:
    """The shard's spec and clock for `--shard` (default 0/1) and `--start-at-ns`."""
    parsed = parse_shard(shard) if shard is not None else Shard(index=0, count=1)
    if shard is not None and report is None:
        raise ConfigError("needs a report file, which poolbench merge reads", what="shard")
    if start_at is not None and start_at <= 0:
        raise ConfigError(what="start_at_ns", expected="ns since the epoch", got=start_at)
    return ShardedLoad(
        spec=shard_spec(spec, parsed),
        clock=None if start_at is None else StartAtClock(start_at),
        shard=parsed,
        params=load_params(spec, parsed, start_at),
        report=report,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardedSink:
    shard: Shard
    seed: int
    params: dict[str, Any]
    record: Path | None
    # Read together when the sink shard is set up, before it serves (its receipts' clock).
    pair: ClockPair = field(default_factory=clock_pair)

    def write_manifest(self) -> Path | None:
        if self.record is None:
            return None
        return write_manifest(
            make_manifest(
                role="sink",
                shard=self.shard.index,
                shards=self.shard.count,
                output=self.record,
                params=self.params,
                clock_pair=self.pair,
                extra={"seed": self.seed},
            ),
            self.record,
        )


def shard_sink(
    shard: str, *, seed: int, record: Path | None, params: dict[str, Any]
) -> ShardedSink:
    """The sink shard's seed (its own latency and fault stream) and manifest."""
    parsed = parse_shard(shard)
    if record is None:
        raise ConfigError("needs a record file, which poolbench merge reads", what="shard")
    return ShardedSink(
        shard=parsed,
        seed=parsed.seed(seed),
        params={**params, "seed": seed, "shards": parsed.count},
        record=record,
    )
