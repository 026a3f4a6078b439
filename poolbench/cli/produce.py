"""`poolbench produce`: the open-model load generator."""

import json
import sys
from pathlib import Path

import typer

EXIT_INCOMPLETE = 1


def produce(
    *,
    bootstrap_servers: str = typer.Option(
        ...,
        "--bootstrap-servers",
        envvar="KAFKA_BROKERS",
        help="Kafka bootstrap servers, host:port[,...]. Default: $KAFKA_BROKERS.",
    ),
    topic: str = typer.Option("email-queue", "--topic", help="Topic to produce to."),
    count: int | None = typer.Option(None, "--count", help="Events to send (stop after N)."),
    rate: str = typer.Option(
        "max",
        "--rate",
        help="Arrival rate: '500/s', 'max', 'saturate' (max with --backlog, default 2000), "
        "or a profile 'ramp:100/s:2000/s:30s', "
        "'steps:100/s:10s,500/s:10s', 'burst:500/s:5000/s:10s:2s'.",
    ),
    duration: str | None = typer.Option(
        None, "--duration", help="Stop after this long, e.g. '30s' (with --count: first wins)."
    ),
    backlog: int | None = typer.Option(
        None,
        "--backlog",
        help="Saturation mode: keep about N events produced but not yet committed by --group.",
    ),
    group: str | None = typer.Option(
        None, "--group", help="Consumer group whose committed offsets --backlog watches."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the event content (ids stay unique)."),
    poison: float = typer.Option(
        0.0,
        "--poison",
        help="Share of poison events (malformed JSON, missing fields, bad address), 0..1.",
    ),
    keys: str = typer.Option(
        "none", "--keys", help="Keys: none, roundrobin[:KEYS], hot[:SHARE[:HOT[:KEYS]]]."
    ),
    templates: str = typer.Option(
        "plain",
        "--templates",
        help="Template mix, e.g. 'plain:1,welcome:2' (plain, password_reset, welcome, "
        "notification, order_confirmation).",
    ),
    priorities: str = typer.Option(
        "normal", "--priorities", help="Priority mix, e.g. 'high:1,normal:8,low:1'."
    ),
    payload_bytes: int = typer.Option(
        0, "--payload-bytes", help="Extra bytes of padding in each event's data.", min=0
    ),
    compression: str = typer.Option(
        "lz4", "--compression", help="none, gzip, snappy, lz4 or zstd."
    ),
    linger_ms: float = typer.Option(
        1.0, "--linger-ms", help="Producer linger in ms (added to every event's latency)."
    ),
    connect_timeout: str = typer.Option(
        "10s", "--connect-timeout", help="Give up when the cluster does not answer this soon."
    ),
    stall_timeout: str = typer.Option(
        "30s",
        "--stall-timeout",
        help="With a backlog: fail (exit 1) when --group commits nothing for this long.",
    ),
    report: Path | None = typer.Option(  # noqa: B008
        None, "--report", help="Write the LoadReport as JSON to this file."
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="Produce shard I of N (e.g. 0/3) of one schedule: every N-th event from I, "
        "ids unique across shards; writes <report>.manifest.json for poolbench merge.",
    ),
    start_at: int | None = typer.Option(
        None,
        "--start-at",
        help="Wall-clock start of the schedule, ns since the epoch (shared by all shards); "
        "waits for it.",
    ),
) -> None:
    """Send EmailEvents to Kafka on an open-model schedule and report what was done.

    Headers: poolbench-id, poolbench-intended-ns (when the schedule meant it), poolbench-sent-ns.

    Exit 0 once every event produced is acknowledged, 1 if some were not (or the group
    watched by --backlog stopped committing for --stall-timeout), 2 on bad input.

    Ctrl-C or SIGTERM ends the run early; what was produced is still flushed and reported.
    """
    from poolbench.cli.signals import stop_on_signals
    from poolbench.errors import RunError
    from poolbench.loadgen import LoadProgress, LoadSpec, run_load
    from poolbench.units import parse_duration

    spec = LoadSpec(
        topic=topic,
        rate=rate,
        count=count,
        duration=duration,
        backlog=backlog,
        group=group,
        seed=seed,
        poison=poison,
        keys=keys,
        templates=templates,
        priorities=priorities,
        data_bytes=payload_bytes,
        compression=compression,
        linger_ms=linger_ms,
        connect_timeout=parse_duration(connect_timeout, what="--connect-timeout"),
        stall_timeout=parse_duration(stall_timeout, what="--stall-timeout"),
    )
    clock = None
    sharding = None
    if shard is not None or start_at is not None:
        from poolbench.merge.shards import shard_load

        sharding = shard_load(spec, shard=shard, start_at=start_at, report=report)
        spec, clock = sharding.spec, sharding.clock
    interactive = sys.stderr.isatty()

    def on_progress(progress: LoadProgress) -> None:
        if interactive:
            backlog_text = "" if progress.backlog is None else f", backlog {progress.backlog}"
            sys.stderr.write(
                f"\r{progress.elapsed_s:7.1f}s  produced {progress.produced}"
                f"{backlog_text}, errors {progress.delivery_errors}   "
            )
            sys.stderr.flush()

    try:
        with stop_on_signals() as stop:
            result = run_load(
                spec,
                bootstrap_servers=bootstrap_servers,
                stop=stop,
                on_progress=on_progress,
                clock=clock if clock is None else clock.watch(stop),
            )
    except RunError as exc:
        if interactive:
            sys.stderr.write("\n")
        typer.echo(f"poolbench: error: {exc}", err=True)
        raise typer.Exit(EXIT_INCOMPLETE) from exc
    if interactive:
        sys.stderr.write("\n")
    if report is not None:
        report.write_text(result.to_json() + "\n")
    if sharding is not None:
        sharding.write_manifest(result)
    lag = result.schedule_lag_ms
    target = "" if result.target_rate is None else f" (target {result.target_rate:,.0f}/s)"
    typer.echo(
        f"produced {result.produced:,} to {topic} in {result.elapsed_s:.2f}s: "
        f"{result.acknowledged:,} acknowledged, {result.delivery_errors:,} delivery errors; "
        f"achieved {result.achieved_rate:,.0f}/s{target}; schedule lag p50 {lag['p50']:.3f} ms, "
        f"p99 {lag['p99']:.3f} ms, max {lag['max']:.3f} ms"
        + (f"; poison {json.dumps(result.poison)}" if result.poison else "")
        + (f"; backlog max {result.backlog_max}" if result.backlog_max is not None else "")
        + ("; stopped early" if result.stopped_early else "")
    )
    if not result.complete:
        reason = result.first_error or "not acknowledged within the delivery timeout"
        typer.echo(
            f"poolbench: error: {result.produced - result.acknowledged} event(s) not "
            f"acknowledged: {reason}",
            err=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE)
