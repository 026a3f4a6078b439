"""`poolbench merge DIR... --out DIR`: one results.json from what many machines measured."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def merge(
    directories: Annotated[
        list[Path],
        typer.Argument(
            help="Shard folders: load reports, sink ledgers, consumer summaries and their "
            "manifests, or shard results.json files.",
        ),
    ],
    *,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the merged results.json into.")
    ],
    max_clock_skew: Annotated[
        str,
        typer.Option(
            "--max-clock-skew",
            help="Refuse load starts or host clock offsets further apart than this.",
        ),
    ] = "50ms",
    warmup: Annotated[
        str, typer.Option("--warmup", help="Load time before the measured window.")
    ] = "0s",
    workers: Annotated[
        int, typer.Option("--workers", help="Workers per consumer instance (for the ideal).", min=1)
    ] = 10,
    name: Annotated[str, typer.Option("--name", help="Name of the merged run.")] = "merged",
    dlq_topic: Annotated[
        str | None,
        typer.Option(
            "--dlq-topic",
            help="Read dead letters by id from this topic (else they count as lost).",
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            envvar="KAFKA_BROKERS",
            help="Kafka bootstrap servers for --dlq-topic. Default: $KAFKA_BROKERS.",
        ),
    ] = None,
) -> None:
    """Merge shard outputs exactly: ids as sets, every receipt pooled, one measurement.

    Exit 2 (one line naming the file) for shards of different loads or scenarios, the
    same shard twice, or clocks further apart than --max-clock-skew.
    """
    from poolbench.merge.core import merge as merge_inputs
    from poolbench.merge.inputs import read_dirs
    from poolbench.merge.options import MergeOptions
    from poolbench.results import Environment, save
    from poolbench.units import parse_duration

    options = MergeOptions(
        max_clock_skew_ns=round(parse_duration(max_clock_skew, what="--max-clock-skew") * 1e9),
        warmup_s=parse_duration(warmup, what="--warmup"),
        workers=workers,
        name=name,
    )
    inputs = read_dirs(directories)
    dead_letters = None
    if dlq_topic is not None:
        from poolbench.errors import ConfigError
        from poolbench.merge.dlq import read_dead_letters

        if not bootstrap_servers:
            raise ConfigError("--dlq-topic needs --bootstrap-servers (or KAFKA_BROKERS)")
        dead_letters = read_dead_letters(bootstrap_servers, dlq_topic)
    result_set = merge_inputs(inputs, options, Environment.capture(), dead_letters)
    target = save(result_set, out)
    for point in result_set.points:
        p99 = "n/a" if point.latency_ms is None else f"{point.latency_ms.p99:.1f} ms"
        produced = "n/a" if point.produced is None else point.produced
        delivered = "n/a" if point.delivered is None else point.delivered
        typer.echo(
            f"produced {produced}, delivered {delivered}, lost {point.lost}, "
            f"duplicates {point.duplicates}, dead-lettered {point.dead_lettered}; p99 {p99}"
        )
    typer.echo(f"wrote {target}")
