"""`poolbench sink`: run the fake SMTP server in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

LATENCY_HELP = (
    "Delay before the reply to DATA. Models: 100ms (fixed), uniform:50ms..150ms, "
    "normal:MEAN,STDDEV (truncated at 0), lognormal:median=80ms,p99=400ms, "
    "exp:MEAN (exponential). Units: ns, us, ms, s, m."
)


def sink(
    *,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(2525, help="TCP port; 0 picks a free one (printed)."),
    latency: str = typer.Option("0", help=LATENCY_HELP),
    latency_at: list[str] = typer.Option(  # noqa: B008
        [],
        "--latency-at",
        help="Extra delay per step, STEP=MODEL (steps: greeting, MAIL, RCPT, DATA; "
        "repeatable), e.g. --latency-at greeting=10ms --latency-at MAIL=uniform:1ms..5ms.",
    ),
    transient: float = typer.Option(
        0.0, help="Probability of a 451 (transient) reply per faulted step."
    ),
    permanent: float = typer.Option(
        0.0, help="Probability of a 550 (permanent) reply per faulted step."
    ),
    drop: float = typer.Option(0.0, help="Probability of cutting the connection per faulted step."),
    fault_at: list[str] = typer.Option(  # noqa: B008
        ["DATA"],
        "--fault-at",
        help="Steps the three fault probabilities apply to (repeatable): greeting, MAIL, "
        "RCPT, DATA.",
    ),
    auth_fail: float = typer.Option(
        0.0, help="Probability of refusing correct AUTH credentials (535)."
    ),
    max_connections: int | None = typer.Option(
        None,
        help="Concurrent connections allowed; more get 421 at connect. Default: no cap.",
    ),
    rate_limit: str | None = typer.Option(
        None,
        help="Emails accepted per time unit (token bucket, checked at MAIL; 451 beyond), "
        "e.g. 500/s or 30000/min,burst=100. Default burst: one second's worth.",
    ),
    outage: list[str] = typer.Option(  # noqa: B008
        [],
        "--outage",
        help="Window after start when everything is refused (421/451) or stalled until "
        "its end, e.g. 10s..15s, reject:10s..15s, stall:10s..15s (repeatable).",
    ),
    auth: str | None = typer.Option(
        None, help="Require AUTH PLAIN/LOGIN with USER:PASSWORD (530 without, 535 if wrong)."
    ),
    tls: str = typer.Option(
        "none",
        help="none, starttls (required before MAIL) or implicit (TLS from the first byte); "
        "uses a self-signed certificate made at start.",
    ),
    processes: int = typer.Option(
        1,
        help="Server processes sharing the port (SO_REUSEPORT).",
    ),
    record: Path | None = typer.Option(  # noqa: B008
        None, help="Write one JSON line per accepted email to this file."
    ),
    seed: int = typer.Option(0, help="Seed of the latency and fault draws."),
    engine: str = typer.Option(
        "fast",
        help="SMTP engine: fast (asyncio.Protocol, on uvloop when installed) or aiosmtpd "
        "(the reference).",
    ),
    status_every: float = typer.Option(
        0.0, help="Print the counters to stderr every this many seconds (0: never)."
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="Sink shard I of N (e.g. 1/2): its own latency and fault stream from --seed; "
        "writes <record>.manifest.json for poolbench merge (needs --record).",
    ),
) -> None:
    """Run the fake SMTP server in the foreground (a sink for the consumer under test).

    Prints HOST:PORT alone on the first line of stdout once it accepts connections,
    runs until Ctrl-C or SIGTERM, then prints its counters.
    """
    from poolbench.cli.edge import fields
    from poolbench.cli.signals import stop_on_signals
    from poolbench.errors import ConfigError
    from poolbench.sink.options import build_config
    from poolbench.sink.server import serve

    flags = sink_flags()
    if status_every < 0:
        raise ConfigError(
            "must not be negative",
            what="status_every",
            where=flags["status_every"],
            got=status_every,
        )

    sharding = None
    if shard is not None:
        from poolbench.merge.shards import shard_sink

        shared = {  # what every sink shard of one run shares (no secrets: auth is a flag)
            "latency": latency,
            "latency_at": latency_at,
            "faults": [transient, permanent, drop, fault_at, auth_fail],
            "limits": [max_connections, rate_limit, outage, processes],
            "auth": auth is not None,
            "tls": tls,
        }
        with fields(flags):
            sharding = shard_sink(shard, seed=seed, record=record, params=shared)
        seed = sharding.seed
    with fields(flags):
        config = build_config(
            host=host,
            port=port,
            latency=latency,
            latency_at=latency_at,
            transient=transient,
            permanent=permanent,
            drop=drop,
            fault_at=fault_at,
            auth_fail=auth_fail,
            max_connections=max_connections,
            rate_limit=rate_limit,
            outages=outage,
            auth=auth,
            tls=tls,
            processes=processes,
            record=record,
            seed=seed,
            engine=engine,
            # Only the counters are printed: keep ids for duplicates, not every receipt.
            keep_receipts=False,
        )

    if sharding is not None:
        sharding.write_manifest()

    def on_ready(server: Any) -> None:
        typer.echo(f"{server.host}:{server.port}")
        sys.stdout.flush()

    def on_tick(counters: Any) -> None:
        typer.echo(_line(counters.as_dict()), err=True)

    # A `RunError` (e.g. a sink process died: its counts are gone) is run_app's: exit 1.
    with fields(flags), stop_on_signals() as stop:
        final = serve(
            config,
            on_ready=on_ready,
            stop=stop,
            on_tick=on_tick if status_every > 0 else None,
            tick=status_every if status_every > 0 else 0.5,
        )
    typer.echo(f"summary: {_line(final.as_dict())}")


def _line(counters: dict[str, Any]) -> str:
    return " ".join(
        f"{key}={value:.1f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in counters.items()
    )


# The sink's fields (`SinkConfig`, `ConfigError.what`) set by an option of another name;
# every other field is set by the option of its own name.
_RENAMED_FIELDS: dict[str, str | tuple[str, ...]] = {
    "command_latency": "latency_at",
    "faults": ("transient", "permanent", "drop"),
    "faults.transient": "transient",
    "faults.permanent": "permanent",
    "faults.drop": "drop",
    "faults.auth_fail": "auth_fail",
    "faults.commands": "fault_at",
    "outages": "outage",
    "record_path": "record",
}


def sink_flags() -> dict[str, str]:
    """The sink's field names -> the flags of `poolbench sink` that set them."""
    from poolbench.cli.edge import field_flags

    return field_flags(sink, _RENAMED_FIELDS)
