"""`poolbench produce`: the open-model load generator."""

import json
import os
import sys
from pathlib import Path

import typer

from poolbench.cli import exit_codes
from poolbench.cli.edge import print_error

READY_LINE = "ready"  # poolbench.loadgen.process reads it
# Flags that make up the load spec; with --spec-file the file says all of it.
_SPEC_FLAGS = (
    "topic",
    "count",
    "rate",
    "duration",
    "backlog",
    "group",
    "seed",
    "poison",
    "keys",
    "templates",
    "priorities",
    "payload_bytes",
    "compression",
    "producer_config",
    "linger_ms",
    "connect_timeout",
    "stall_timeout",
)


def produce(
    ctx: typer.Context,
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
    producer_config: list[str] = typer.Option(  # noqa: B008
        [],
        "--producer-config",
        help="A librdkafka producer setting as KEY=VALUE, e.g. linger.ms=5; repeatable.",
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
    spec_file: Path | None = typer.Option(  # noqa: B008
        None,
        "--spec-file",
        help="The whole load spec as JSON (LoadSpec.to_json), instead of the load flags.",
    ),
    start_at_ns: int | None = typer.Option(
        None,
        "--start-at-ns",
        help="Connect, print 'ready', then start the schedule at this wall-clock time "
        "(ns since the epoch); with --shard, the origin all shards share.",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="Produce shard I of N (e.g. 0/3) of one schedule: every N-th event from I, "
        "ids unique across shards; writes <report>.manifest.json for poolbench merge.",
    ),
) -> None:
    """Send EmailEvents to Kafka on an open-model schedule and report what was done.

    Headers: poolbench-id, poolbench-intended-ns (when the schedule meant it), poolbench-sent-ns.

    Exit 0 once every event produced is acknowledged, 1 if some were not (or the group
    watched by --backlog stopped committing for --stall-timeout), 2 on bad input.

    Ctrl-C or SIGTERM ends the run early; what was produced is still flushed and reported.

    With --start-at-ns, the line 'ready' is printed (alone) once connected, before waiting.
    """
    from poolbench.cli.edge import fields
    from poolbench.cli.signals import stop_on_signals
    from poolbench.errors import ConfigError, RunError
    from poolbench.loadgen import LoadProgress, LoadSpec, run_load
    from poolbench.loadgen.spec import librdkafka_setting_error
    from poolbench.units import parse_duration

    flags = produce_flags()
    if spec_file is not None:
        sources = {name: ctx.get_parameter_source(name) for name in _SPEC_FLAGS}
        given = [name for name, src in sources.items() if src and src.name == "COMMANDLINE"]
        if given:
            named = ", ".join(flags[name] for name in given)
            raise ConfigError(
                f"says the whole load spec; remove {named}",
                what="spec_file",
                where=flags["spec_file"],
            )
        try:
            text = spec_file.read_text()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {spec_file}: {exc.strerror}",
                what="spec_file",
                where=flags["spec_file"],
            ) from exc
        spec = LoadSpec.from_json(text)
        topic = spec.topic
    else:
        settings: dict[str, str] = {}
        for item in producer_config:
            key, equals, value = item.partition("=")
            if not equals or not key.strip():
                raise ConfigError(
                    what="producer", where=flags["producer"], expected="KEY=VALUE", got=item
                )
            settings[key.strip()] = value
        refused = librdkafka_setting_error(settings)
        if refused is not None:
            key = f"{refused[0]}: " if refused[0] else ""
            raise ConfigError(key + refused[1], what="producer", where=flags["producer"])
        with fields(flags):
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
                producer=settings,
                linger_ms=linger_ms,
                connect_timeout=parse_duration(connect_timeout, what="connect_timeout"),
                stall_timeout=parse_duration(stall_timeout, what="stall_timeout"),
            )
    clock = None
    sharding = None
    if shard is not None:
        from poolbench.merge.shards import shard_load

        # The shard's own clock waits for --start-at-ns and keeps the common origin.
        with fields(flags):
            sharding = shard_load(spec, shard=shard, start_at=start_at_ns, report=report)
        spec, clock = sharding.spec, sharding.clock
    interactive = sys.stderr.isatty()

    def on_ready() -> None:
        if start_at_ns is not None:
            sys.stdout.write(READY_LINE + "\n")
            sys.stdout.flush()

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
                start_at_wall_ns=None if sharding is not None else start_at_ns,
                on_ready=on_ready,
            )
    except RunError:
        if interactive:
            sys.stderr.write("\n")
        raise  # run_app prints it, exit 1
    if interactive:
        sys.stderr.write("\n")
    if report is not None:
        # Whole or not at all: whoever waits for the file may read it the moment it exists.
        partial = report.with_name(report.name + ".tmp")
        partial.write_text(result.to_json() + "\n")
        os.replace(partial, report)
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
        print_error(f"{result.produced - result.acknowledged} event(s) not acknowledged: {reason}")
        raise typer.Exit(exit_codes.CHECK_FAILED)


# The load spec's fields (`LoadSpec`, `ConfigError.what`) set by an option of another
# name; every other field is set by the option of its own name.
_RENAMED_FIELDS: dict[str, str | tuple[str, ...]] = {
    "data_bytes": "payload_bytes",
    "producer": "producer_config",
}


def produce_flags() -> dict[str, str]:
    """The load spec's field names -> the flags of `poolbench produce` that set them."""
    from poolbench.cli.edge import field_flags

    return field_flags(produce, _RENAMED_FIELDS)
