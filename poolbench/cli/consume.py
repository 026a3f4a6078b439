"""`poolbench consume`: the pooled email consumer (Kafka -> worker pool -> SMTP)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer


def consume(  # noqa: PLR0917 (one parameter per flag)
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            help="Concurrent workers (env EMAIL_WORKER_COUNT; default 10).",
        ),
    ] = None,
    buffer: Annotated[
        str | None,
        typer.Option(
            "--buffer",
            help="Job queue slots (env EMAIL_WORKER_BUFFER; default 100).",
        ),
    ] = None,
    kafka_brokers: Annotated[
        str | None,
        typer.Option(
            "--kafka-brokers",
            help="Bootstrap servers host:port[,...] (env KAFKA_BROKERS; default localhost:9093).",
        ),
    ] = None,
    kafka_topic: Annotated[
        str | None,
        typer.Option(
            "--kafka-topic",
            help="Input topic (env KAFKA_TOPIC; default email-queue).",
        ),
    ] = None,
    kafka_group: Annotated[
        str | None,
        typer.Option(
            "--kafka-group",
            help="Consumer group (env KAFKA_GROUP_ID; default messaging-service-group).",
        ),
    ] = None,
    smtp_host: Annotated[
        str | None,
        typer.Option(
            "--smtp-host",
            help="SMTP server host (env SMTP_HOST; default localhost).",
        ),
    ] = None,
    smtp_port: Annotated[
        str | None,
        typer.Option(
            "--smtp-port",
            help="SMTP server port (env SMTP_PORT; default 2525).",
        ),
    ] = None,
    smtp_user: Annotated[
        str | None,
        typer.Option(
            "--smtp-user",
            help="SMTP user; empty: no AUTH (env SMTP_USER; default empty).",
        ),
    ] = None,
    smtp_password: Annotated[
        str | None,
        typer.Option(
            "--smtp-pass",
            help="SMTP password (env SMTP_PASSWORD; default empty).",
        ),
    ] = None,
    smtp_security: Annotated[
        str | None,
        typer.Option(
            "--smtp-security",
            help="none, starttls or tls (implicit TLS)"
            " (env POOLBENCH_SMTP_SECURITY; default none).",
        ),
    ] = None,
    smtp_verify_tls: Annotated[
        bool | None,
        typer.Option(
            "--smtp-verify-tls/--no-smtp-verify-tls",
            help="Verify the server's TLS certificate; off for self-signed test"
            " sinks (env POOLBENCH_SMTP_VERIFY_TLS; default on).",
        ),
    ] = None,
    connection_reuse: Annotated[
        bool | None,
        typer.Option(
            "--connection-reuse/--no-connection-reuse",
            "--reuse/--no-reuse",
            help="One SMTP connection kept per worker; off: one per email, the Go"
            " service's way (env POOLBENCH_CONNECTION_REUSE; default on).",
        ),
    ] = None,
    smtp_timeout_s: Annotated[
        str | None,
        typer.Option(
            "--smtp-timeout",
            help="Timeout of each SMTP connect and command, e.g. 10s"
            " (env POOLBENCH_SMTP_TIMEOUT; default 10s).",
        ),
    ] = None,
    shutdown_timeout_s: Annotated[
        str | None,
        typer.Option(
            "--shutdown-timeout",
            help="Time to finish fetched emails on SIGTERM/SIGINT"
            " (env POOLBENCH_SHUTDOWN_TIMEOUT; default 30s).",
        ),
    ] = None,
    max_retries: Annotated[
        str | None,
        typer.Option(
            "--max-retries",
            help="Retries of a transient failure when the event sets none"
            " (env POOLBENCH_MAX_RETRIES; default 3).",
        ),
    ] = None,
    retry_base_s: Annotated[
        str | None,
        typer.Option(
            "--retry-base",
            help="First backoff ceiling, doubling per retry, full jitter"
            " (env POOLBENCH_RETRY_BASE; default 100ms).",
        ),
    ] = None,
    retry_max_s: Annotated[
        str | None,
        typer.Option(
            "--retry-max",
            help="Largest backoff ceiling (env POOLBENCH_RETRY_MAX; default 5s).",
        ),
    ] = None,
    breaker_threshold: Annotated[
        str | None,
        typer.Option(
            "--breaker-threshold",
            help="Consecutive transient failures that open the circuit breaker"
            " (env POOLBENCH_BREAKER_THRESHOLD; default 5).",
        ),
    ] = None,
    breaker_cooldown_s: Annotated[
        str | None,
        typer.Option(
            "--breaker-cooldown",
            help="How long the open breaker waits before a probe"
            " (env POOLBENCH_BREAKER_COOLDOWN; default 5s).",
        ),
    ] = None,
    dlq_topic: Annotated[
        str | None,
        typer.Option(
            "--dlq-topic",
            help="Dead-letter topic (env POOLBENCH_DLQ_TOPIC; default email-dlq).",
        ),
    ] = None,
    metrics_port: Annotated[
        str | None,
        typer.Option(
            "--metrics-port",
            help="Prometheus endpoint on 127.0.0.1:PORT; 0: off"
            " (env POOLBENCH_METRICS_PORT; default 0).",
        ),
    ] = None,
    commit_interval_s: Annotated[
        str | None,
        typer.Option(
            "--commit-interval",
            help="How often finished offsets are committed"
            " (env POOLBENCH_COMMIT_INTERVAL; default 1s).",
        ),
    ] = None,
    sequential: Annotated[
        bool | None,
        typer.Option(
            "--sequential/--no-sequential",
            help="One email at a time (forces 1 worker): the seed's old consumer"
            " (env POOLBENCH_SEQUENTIAL; default off).",
        ),
    ] = None,
    templates_dir: Annotated[
        str | None,
        typer.Option(
            "--templates-dir",
            help="Folder of <name>.html and <name>.txt templates over the built-in ones"
            " (env POOLBENCH_TEMPLATES_DIR).",
        ),
    ] = None,
    debug_delay_s: Annotated[
        str | None,
        typer.Option("--debug-delay", hidden=True, help="Extra sleep per email (gate tests)."),
    ] = None,
    max_events: Annotated[
        int | None,
        typer.Option(
            "--max-events",
            min=1,
            help="Exit after this many events are finished (sent or dead-lettered). "
            "Default: run until SIGTERM/SIGINT.",
        ),
    ] = None,
    summary_json: Annotated[
        Path | None,
        typer.Option(
            "--summary-json",
            help="Write the final counters (sent, dead_lettered, left_uncommitted, ...) as JSON.",
        ),
    ] = None,
    connect_timeout: Annotated[
        str,
        typer.Option("--connect-timeout", help="How long to wait for the Kafka broker at start."),
    ] = "10s",
) -> None:
    """Consume EmailEvents from Kafka and send them over SMTP with a pool of workers.

    At least once: an offset is committed once it and every lower one are sent or
    dead-lettered.

    Prints "consumer ready" on stderr once it has its partitions, a summary at exit.

    Exit 0 after a clean stop (SIGTERM, SIGINT, --max-events), 1 when the shutdown
    timeout passed (unfinished events stay uncommitted for redelivery), 2 on bad input.
    """
    from poolbench.cli.consume_run import SPEC_ENV, encode_spec, finish, ready
    from poolbench.consumer.service import run_consumer
    from poolbench.consumer.settings import load_settings
    from poolbench.units import parse_duration

    flags: dict[str, object | None] = {
        "workers": workers,
        "buffer": buffer,
        "kafka_brokers": kafka_brokers,
        "kafka_topic": kafka_topic,
        "kafka_group": kafka_group,
        "smtp_host": smtp_host,
        "smtp_port": smtp_port,
        "smtp_user": smtp_user,
        "smtp_password": smtp_password,
        "smtp_security": smtp_security,
        "smtp_verify_tls": smtp_verify_tls,
        "connection_reuse": connection_reuse,
        "smtp_timeout_s": smtp_timeout_s,
        "shutdown_timeout_s": shutdown_timeout_s,
        "max_retries": max_retries,
        "retry_base_s": retry_base_s,
        "retry_max_s": retry_max_s,
        "breaker_threshold": breaker_threshold,
        "breaker_cooldown_s": breaker_cooldown_s,
        "dlq_topic": dlq_topic,
        "metrics_port": metrics_port,
        "commit_interval_s": commit_interval_s,
        "sequential": sequential,
        "templates_dir": templates_dir,
        "debug_delay_s": debug_delay_s,
    }
    settings = load_settings(flags, os.environ)
    timeout = parse_duration(connect_timeout, what="--connect-timeout")
    if os.environ.get("POOLBENCH_CONSUME_IN_PROCESS") != "1":
        # Shed typer and pydantic (~13 MB) before consuming: see consume_run.
        spec = encode_spec(
            settings,
            max_events=max_events,
            summary_json=summary_json,
            connect_timeout_s=timeout,
            log_level=logging.getLogger().level,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[SPEC_ENV] = spec
        os.execv(sys.executable, [sys.executable, "-m", "poolbench.cli.consume_run"])
    counters = run_consumer(
        settings, max_events=max_events, on_ready=ready, connect_timeout_s=timeout
    )
    code = finish(counters, summary_json)
    if code:
        raise typer.Exit(code)
