"""The readers of a scenario's sections (broker, topic, sink, consumer, sweep, allow,
gates; `load` is in `load_section`): each turns its decoded section into its part of the
model through a `Reader`.
"""

from __future__ import annotations

import string
from typing import Any, Final

from poolbench.consumer.settings import spec_for
from poolbench.errors import ConfigError
from poolbench.gate_expr import parse_gate
from poolbench.scenario.model import (
    PLACEHOLDERS,
    SETTINGS_FIELDS,
    Allow,
    Broker,
    Consumer,
    Faults,
    Outage,
    Sink,
    Sweep,
    Topic,
)
from poolbench.scenario.reader import MISSING, Reader, join_key, show
from poolbench.sink.config import ENGINES, SinkConfig
from poolbench.sink.latency import parse_latency
from poolbench.units import parse_duration, parse_rate


def read_broker(ctx: Reader, data: Any) -> Broker:
    if data == "embedded":
        return Broker()
    if isinstance(data, str):
        raise ctx.error(
            f"expected 'embedded' or {{bootstrap_servers: 'host:9092'}}, got {data!r}", "broker"
        )
    section = ctx.mapping(data, "broker", ("bootstrap_servers", "brokers"))
    servers = ctx.optional_str(section, "bootstrap_servers")
    brokers = ctx.integer(section, "brokers", default=1, minimum=1)
    if servers is not None and brokers != 1:
        ctx.fail("only the embedded broker can be sized; remove it", "broker.brokers")
    return Broker(bootstrap_servers=servers, brokers=brokers)


def read_topic(ctx: Reader, data: Any) -> Topic:
    section = ctx.mapping(data, "topic", ("name", "partitions", "dlq"))
    name = ctx.value(section, "name", str, "a topic name", default="email-queue")
    dlq = ctx.value(section, "dlq", str, "a topic name", default="email-dlq")
    if name == dlq:
        ctx.fail("the dead-letter topic must differ from the input topic", "topic.dlq")
    return Topic(
        name=name, partitions=ctx.integer(section, "partitions", default=8, minimum=1), dlq=dlq
    )


def read_sink(ctx: Reader, data: Any) -> Sink:
    section = ctx.mapping(
        data,
        "sink",
        (
            "latency",
            "processes",
            "faults",
            "max_connections",
            "rate_limit",
            "outages",
            "engine",
            "auth",
        ),
    )
    engine = section.get("engine", "fast")
    if engine not in ENGINES:
        ctx.fail(f"expected one of {', '.join(ENGINES)}, got {show(engine)}", "sink.engine")
        engine = "fast"
    latency = section.get("latency", "0ms")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        latency = f"{latency}s"  # a bare number means seconds, as everywhere else
    if not isinstance(latency, str) or not latency.strip():
        ctx.fail(
            f"expected a latency like '100ms' (or the sink's distribution syntax), "
            f"got {show(latency)}",
            "sink.latency",
        )
        latency = "0ms"
    try:
        # Stored in its canonical form, so that `100ms` and `0.1s` hash the same.
        latency = parse_latency(latency, what="sink.latency").describe()
    except ConfigError as exc:
        ctx.errors.append(ctx.located(exc, "sink.latency"))
        latency = "0ms"
    faults = ctx.mapping(section.get("faults"), "sink.faults", ("transient", "permanent", "drop"))
    fault_values = Faults(
        transient=ctx.share(faults, "transient"),
        permanent=ctx.share(faults, "permanent"),
        drop=ctx.share(faults, "drop"),
    )
    if fault_values.transient + fault_values.permanent + fault_values.drop > 1:
        ctx.fail("transient + permanent + drop must not exceed 1", "sink.faults")
    rate_limit = None
    if section.get("rate_limit") is not None:
        rate_limit = ctx.parsed(section, "rate_limit", parse_rate, default=None)
    processes = ctx.integer(section, "processes", default=1, minimum=1)
    max_connections = ctx.integer(
        section, "max_connections", default=None, minimum=1, optional=True
    )
    _check_sink_limits(ctx, processes, max_connections)
    return Sink(
        latency=latency,
        processes=processes,
        faults=fault_values,
        max_connections=max_connections,
        rate_limit_per_s=rate_limit,
        outages=ctx.guard(_outages, section.get("outages"), ()),
        engine=engine,
        **_auth(ctx, section.get("auth")),
    )


def _auth(ctx: Reader, data: Any) -> dict[str, str | None]:
    if data is None:
        return {}
    section = ctx.mapping(data, "sink.auth", ("user", "password"))
    values: dict[str, str | None] = {}
    for name in ("user", "password"):
        value = section.get(name)
        if not isinstance(value, str) or not value:
            ctx.fail("expected a non-empty string", f"sink.auth.{name}")
            continue
        values[f"auth_{name}"] = value
    if len(values) != 2:
        return {}
    return values


_SINK_KEYS: Final = {"processes": "sink.processes", "max_connections": "sink.max_connections"}


def _check_sink_limits(ctx: Reader, processes: int, max_connections: int | None) -> None:
    """The sink's own checks, at the scenario's key path."""
    try:
        SinkConfig(processes=processes, max_connections=max_connections)
    except ConfigError as exc:
        ctx.errors.append(ctx.located(exc, _SINK_KEYS.get(exc.what, "sink")))


def _outages(ctx: Reader, data: Any) -> tuple[Outage, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        ctx.fail(f"expected a list of {{at, duration}}, got {show(data)}", "sink.outages")
        return ()
    out: list[Outage] = []
    for i, item in enumerate(data):
        section = ctx.mapping(item, f"sink.outages[{i}]", ("at", "duration"))
        out.append(
            Outage(
                at=ctx.parsed(section, "at", parse_duration, default=MISSING),
                duration=ctx.parsed(
                    section, "duration", parse_duration, default=MISSING, positive=True
                ),
            )
        )
    return tuple(out)


def _knob_key(name: str) -> str:
    """The scenario's key of a `Consumer` knob: its name without the unit suffix
    (`retry_backoff_s` is `retry_backoff:`), as everywhere in the scenario format."""
    return name.removesuffix("_s")


def _read_knob(ctx: Reader, section: dict[str, Any], name: str, default: object) -> Any:
    """One consumer knob, parsed by the consumer's own settings table (`SETTINGS`), so a
    scenario accepts exactly what `poolbench consume` does for the same setting."""
    key = _knob_key(name)
    if key not in section:
        return default
    try:
        return spec_for(SETTINGS_FIELDS[name]).parse(section[key])
    except ConfigError as exc:
        ctx.record(ctx.located(exc, join_key(section.get("", ""), key)))
        return default


def read_consumer(ctx: Reader, data: Any) -> Consumer:
    # The knobs are the `SETTINGS_FIELDS` table's (Consumer field -> settings field); the
    # rest of the section is the scenario's own: instances, a foreign command and its env.
    section = ctx.mapping(
        data,
        "consumer",
        (*(_knob_key(name) for name in SETTINGS_FIELDS), "instances", "command", "env"),
    )
    command = ctx.optional_str(section, "command")
    env_section = section.get("env") or {}
    if not isinstance(env_section, dict):
        ctx.fail(f"expected a mapping of names to strings, got {show(env_section)}", "consumer.env")
        env_section = {}
    env: dict[str, str] = {}
    for name, value in env_section.items():
        key = f"consumer.env.{name}"
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            ctx.fail(f"expected a string, got {show(value)}", key)
            continue
        env[name] = str(value)
        _check_placeholders(ctx, env[name], key)
    if command is not None:
        _check_placeholders(ctx, command, "consumer.command")
    default = Consumer()
    knobs = {
        name: _read_knob(ctx, section, name, getattr(default, name)) for name in SETTINGS_FIELDS
    }
    return Consumer(
        **knobs,
        instances=ctx.integer(section, "instances", default=1, minimum=1),
        command=command,
        env=env,
    )


def _check_placeholders(ctx: Reader, text: str, key: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        ctx.fail(f"bad placeholder syntax ({exc}); write '{{{{' for a brace", key)
        return
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            ctx.fail(f"unknown placeholder {{{name}}} (known: {known})", key)


def read_sweep(ctx: Reader, data: Any) -> Sweep:
    if data is None:
        return Sweep()
    if not isinstance(data, dict):
        raise ctx.error(f"expected a mapping of dotted paths to lists, got {show(data)}", "sweep")
    mode = data.get("mode", "zip")
    if mode not in ("zip", "grid"):
        ctx.fail(f"expected 'zip' or 'grid', got {show(mode)}", "sweep.mode")
        mode = "zip"
    axes: list[tuple[str, tuple[Any, ...]]] = []
    for path, values in data.items():
        if path == "mode":
            continue
        key = f"sweep.{path}"
        if not isinstance(path, str):
            ctx.fail("expected a dotted path like consumer.workers", key)
            continue
        if not isinstance(values, list) or not values:
            ctx.fail(f"expected a non-empty list of values, got {show(values)}", key)
            continue
        axes.append((path, tuple(values)))
    if mode == "zip" and axes:
        lengths = {path: len(values) for path, values in axes}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{path}: {n}" for path, n in lengths.items())
            raise ctx.error(
                f"zip pairs values in order, so every list needs the same length ({shown}); "
                "use mode: grid for every combination",
                f"sweep.{axes[-1][0]}",
            )
    return Sweep(mode=mode, axes=tuple(axes))


def read_allow(ctx: Reader, data: Any) -> Allow:
    if data is None:
        return Allow()
    section = ctx.mapping(data, "allow", ("lost", "duplicates", "retention_drops"))
    return Allow(
        lost=ctx.integer(section, "lost", default=0, minimum=0),
        duplicates=ctx.integer(section, "duplicates", default=0, minimum=0),
        retention_drops=ctx.integer(section, "retention_drops", default=0, minimum=0),
    )


def read_gates(ctx: Reader, data: Any) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ctx.error(f"expected a list of expressions, got {show(data)}", "gates")
    for i, text in enumerate(data):
        try:
            parse_gate(text)
        except ConfigError as exc:
            ctx.fail(str(exc), f"gates[{i}]")
    return tuple(text.strip() for text in data)
