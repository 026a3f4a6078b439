"""`poolbench broker`: the embedded Kafka broker in the foreground."""

import logging
import os
import sys
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def broker(
    brokers: int = typer.Option(1, "--brokers", help="Brokers in the cluster.", min=1),
    topic: list[str] = typer.Option(  # noqa: B008
        [],
        "--topic",
        help="Topic to create as NAME:PARTITIONS; repeatable. "
        "Default: email-queue:8 and email-dlq:1.",
    ),
    port_file: Path | None = typer.Option(  # noqa: B008
        None,
        "--port-file",
        help="Also write the bootstrap servers to this file once the broker is up "
        "(removed on exit).",
    ),
) -> None:
    """Run an embedded Kafka broker (librdkafka's mock cluster) until Ctrl-C or SIGTERM.

    The first line of standard output is the bootstrap servers, alone; logs go to stderr.

    Each partition keeps only about 5 MiB; poolbench reports older ones as dropped by the broker.
    """
    from poolbench.broker import EmbeddedBroker, TopicSpec, default_topics, wait_for_stop
    from poolbench.cli.signals import stop_on_signals

    topics = [TopicSpec.parse(text) for text in topic] if topic else list(default_topics())
    with stop_on_signals() as stop, EmbeddedBroker(brokers=brokers, topics=topics) as running:
        # The port file first: whoever reads the stdout line may look for it at once.
        if port_file is not None:
            partial = port_file.with_name(port_file.name + ".tmp")
            partial.write_text(running.bootstrap_servers + "\n")
            os.replace(partial, port_file)
        sys.stdout.write(running.bootstrap_servers + "\n")
        sys.stdout.flush()
        names = ", ".join(f"{t.name}:{t.partitions}" for t in topics)
        log.info("serving %s with topics %s; Ctrl-C to stop", running.bootstrap_servers, names)
        try:
            wait_for_stop(stop)
        finally:
            if port_file is not None:
                port_file.unlink(missing_ok=True)
