"""`poolbench broker`: the embedded Kafka broker in the foreground."""

import logging
import os
import sys
import threading
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def broker(
    *,
    brokers: int = typer.Option(1, "--brokers", help="Brokers in the cluster.", min=1),
    topic: list[str] = typer.Option(  # noqa: B008
        [],
        "--topic",
        help="Topic to create as NAME:PARTITIONS; repeatable. "
        "Default: email-queue:8 and email-dlq:1.",
    ),
    no_default_topics: bool = typer.Option(
        False, "--no-default-topics", help="Without --topic, create no topic at all."
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Also accept clients on this bootstrap port of 127.0.0.1 (bound before the "
        "broker starts; 0 picks one), printed as the bootstrap servers. Default: only the "
        "cluster's own ephemeral ports.",
        show_default=False,
    ),
    port_file: Path | None = typer.Option(  # noqa: B008
        None,
        "--port-file",
        help="Also write the bootstrap servers to this file once the broker is up "
        "(removed on exit).",
    ),
    control_stdin: bool = typer.Option(
        False,
        "--control-stdin",
        help="Read requests on stdin, one per line: 'topic NAME PARTITIONS' is answered "
        "'ok' or 'error REASON' on stdout. Stops when stdin closes.",
    ),
) -> None:
    """Run an embedded Kafka broker (librdkafka's mock cluster) until Ctrl-C or SIGTERM.

    The first line of standard output is the bootstrap servers, alone; logs go to stderr.
    Its listeners take ephemeral ports (the mock cluster cannot bind a chosen one);
    --port adds a fixed bootstrap port that relays to them.

    Each partition keeps only about 5 MiB; poolbench reports older ones as dropped by the broker.
    """
    from poolbench.broker import EmbeddedBroker, TopicSpec, default_topics, wait_for_stop
    from poolbench.broker.control import answer
    from poolbench.cli.bootstrap_port import Forwarder, listen
    from poolbench.cli.edge import field_flags, fields, flag
    from poolbench.cli.signals import stop_on_signals

    # The broker's fields (`TopicSpec` "topic", "brokers") are its options' own names.
    flags = field_flags(broker, {})
    with fields(flags):
        if topic:
            topics = [TopicSpec.parse(text) for text in topic]
        else:
            topics = [] if no_default_topics else list(default_topics())
        embedded = EmbeddedBroker(brokers=brokers, topics=topics)
    listener = None
    if port is not None:
        with flag("--port"):
            listener = listen("127.0.0.1", port)  # checked before the broker starts
    with stop_on_signals() as stop, embedded as running:
        servers = running.bootstrap_servers
        forwarder = None
        if listener is not None:
            forwarder = Forwarder(listener, servers.split(",")[0]).start()
            servers = forwarder.address
        # The port file first: whoever reads the stdout line may look for it at once.
        if port_file is not None:
            partial = port_file.with_name(port_file.name + ".tmp")
            partial.write_text(servers + "\n")
            os.replace(partial, port_file)
        sys.stdout.write(servers + "\n")
        sys.stdout.flush()
        names = ", ".join(f"{t.name}:{t.partitions}" for t in topics) or "none"
        log.info("serving %s with topics %s; Ctrl-C to stop", servers, names)

        def serve_control() -> None:
            # A thread, so that the main thread keeps noticing signals.
            for line in sys.stdin:
                sys.stdout.write(answer(running, line) + "\n")
                sys.stdout.flush()
            log.info("control channel closed: stopping")
            stop.set()

        if control_stdin:
            threading.Thread(target=serve_control, name="broker-control", daemon=True).start()
        try:
            wait_for_stop(stop)
        finally:
            if forwarder is not None:
                forwarder.close()
            if port_file is not None:
                port_file.unlink(missing_ok=True)
