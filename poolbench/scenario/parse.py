"""YAML and dicts -> a validated `Scenario`; every error names the file and key path.

Accepts the file's form (`100ms`, `500/s`, `saturate`) and the canonical form that
`Scenario.to_dict` writes (seconds and per-second numbers), so a canonical dict can be
overridden by a sweep and parsed again.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from poolbench.errors import ConfigError, ScenarioError
from poolbench.gates.expr import parse_gate
from poolbench.loadgen.events import parse_priorities
from poolbench.loadgen.spec import (
    COMPRESSIONS,
    librdkafka_setting_error,
    producer_setting_error,
    producer_setting_text,
)
from poolbench.scenario.model import (
    COMPRESSION_AUTO,
    DEFAULT_PRIORITIES,
    PLACEHOLDERS,
    Allow,
    Broker,
    Consumer,
    Faults,
    Load,
    Outage,
    RateStep,
    Scenario,
    Sink,
    Sweep,
    Topic,
)
from poolbench.sink.config import ENGINES, SinkConfig
from poolbench.sink.latency import parse_latency
from poolbench.units import parse_duration, parse_rate

_T = TypeVar("_T")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_KEYS: Final = (
    "name",
    "description",
    "broker",
    "topic",
    "sink",
    "consumer",
    "load",
    "sweep",
    "repeats",
    "gates",
    "allow",
)
_MISSING: Final = object()


def load_scenario_file(path: Path | str) -> Scenario:
    """Read and validate a scenario YAML file (without expanding its sweep)."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise ScenarioError("no such scenario file", path=file) from exc
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", path=file) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"not valid YAML{where}: {problem}", path=file) from exc
    return parse_scenario(data, source=file)


def parse_scenario(data: Any, *, source: str = "") -> Scenario:
    """Validate a decoded scenario (YAML or canonical dict)."""
    ctx = _Ctx(source)
    top = ctx.mapping(data, "", _TOP_KEYS)
    name = ctx.value(top, "name", str, "a string")
    if not _NAME.match(name):
        raise ctx.error("expected letters, digits, '.', '_' or '-' (it names a folder)", "name")
    scenario = Scenario(
        name=name,
        description=ctx.value(top, "description", str, "a string", default=""),
        broker=_broker(ctx, top.get("broker", "embedded")),
        topic=_topic(ctx, top.get("topic")),
        sink=_sink(ctx, top.get("sink")),
        consumer=_consumer(ctx, top.get("consumer")),
        load=_load(ctx, top.get("load")),
        sweep=_sweep(ctx, top.get("sweep")),
        repeats=ctx.integer(top, "repeats", default=1, minimum=1),
        gates=_gates(ctx, top.get("gates")),
        allow=_allow(ctx, top.get("allow")),
        source=source,
    )
    cross_check(scenario)
    return scenario


class _Ctx:
    """Typed reads from one file; errors carry the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str, key: str) -> ScenarioError:
        return ScenarioError(message, path=self.source, key=key)

    def located(self, exc: ConfigError, key: str) -> ScenarioError:
        """A library's error about the value at `key`, shown at the key path."""
        if exc.where or exc.what:
            return ScenarioError.from_config(exc, path=self.source, key=key)
        return self.error(str(exc), key)

    def mapping(self, data: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.error(f"expected a mapping, got {_show(data)}", key or "(top level)")
        for name in data:
            if name not in allowed:
                hint = difflib.get_close_matches(str(name), allowed, n=1)
                also = (
                    f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(allowed)})"
                )
                raise self.error(f"unknown key{also}", _join(key, str(name)))
        return {"": key, **data}

    def value(
        self,
        section: dict[str, Any],
        name: str,
        kind: type[_T],
        expected: str,
        *,
        default: Any = _MISSING,
    ) -> _T:
        key = _join(section.get("", ""), name)
        value = section.get(name, default)
        if value is _MISSING:
            raise self.error(f"missing; expected {expected}", key)
        if isinstance(value, bool) and kind is not bool:
            raise self.error(f"expected {expected}, got {_show(value)}", key)
        if not isinstance(value, kind):
            raise self.error(f"expected {expected}, got {_show(value)}", key)
        return value

    def optional_str(self, section: dict[str, Any], name: str) -> str | None:
        if section.get(name) is None:
            return None
        text = self.value(section, name, str, "a string")
        if not text.strip():
            raise self.error("must not be empty", _join(section[""], name))
        return text

    def integer(
        self,
        section: dict[str, Any],
        name: str,
        *,
        default: int | None,
        minimum: int,
        optional: bool = False,
    ) -> int:
        key = _join(section.get("", ""), name)
        if optional and section.get(name) is None:
            return default  # type: ignore[return-value]
        value = self.value(section, name, int, "an integer", default=default)
        if value < minimum:
            raise self.error(f"must be at least {minimum}, got {value}", key)
        return value

    def share(self, section: dict[str, Any], name: str, *, below_one: bool = False) -> float:
        key = _join(section.get("", ""), name)
        value = section.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"expected a share between 0 and 1, got {_show(value)}", key)
        if not 0 <= value <= 1 or (below_one and value == 1):
            bound = "1 (excluded)" if below_one else "1"
            raise self.error(f"must be between 0 and {bound}, got {value}", key)
        return float(value)

    def parsed(
        self,
        section: dict[str, Any],
        name: str,
        parse: Callable[..., float],
        *,
        default: Any,
        positive: bool = False,
    ) -> float:
        key = _join(section.get("", ""), name)
        value = section.get(name, default)
        if value is _MISSING:
            raise self.error("missing", key)
        try:
            result = parse(value, what=key)
        except ConfigError as exc:
            raise self.located(exc, key) from exc
        if positive and result <= 0:
            raise self.error(f"must be positive, got {_show(value)}", key)
        return result


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


_KIND_NAMES: Final[dict[type, str]] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def _show(value: Any) -> str:
    kind = _KIND_NAMES.get(type(value))
    return f"{kind} {value!r}" if kind else repr(value)


def _broker(ctx: _Ctx, data: Any) -> Broker:
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
        raise ctx.error("only the embedded broker can be sized; remove it", "broker.brokers")
    return Broker(bootstrap_servers=servers, brokers=brokers)


def _topic(ctx: _Ctx, data: Any) -> Topic:
    section = ctx.mapping(data, "topic", ("name", "partitions", "dlq"))
    name = ctx.value(section, "name", str, "a topic name", default="email-queue")
    dlq = ctx.value(section, "dlq", str, "a topic name", default="email-dlq")
    if name == dlq:
        raise ctx.error("the dead-letter topic must differ from the input topic", "topic.dlq")
    return Topic(
        name=name, partitions=ctx.integer(section, "partitions", default=8, minimum=1), dlq=dlq
    )


def _sink(ctx: _Ctx, data: Any) -> Sink:
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
        raise ctx.error(f"expected one of {', '.join(ENGINES)}, got {_show(engine)}", "sink.engine")
    latency = section.get("latency", "0ms")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        latency = f"{latency}s"  # a bare number means seconds, as everywhere else
    if not isinstance(latency, str) or not latency.strip():
        raise ctx.error(
            f"expected a latency like '100ms' (or the sink's distribution syntax), "
            f"got {_show(latency)}",
            "sink.latency",
        )
    try:
        # Stored in its canonical form, so that `100ms` and `0.1s` hash the same.
        latency = parse_latency(latency, what="sink.latency").describe()
    except ConfigError as exc:
        raise ctx.located(exc, "sink.latency") from exc
    faults = ctx.mapping(section.get("faults"), "sink.faults", ("transient", "permanent", "drop"))
    fault_values = Faults(
        transient=ctx.share(faults, "transient"),
        permanent=ctx.share(faults, "permanent"),
        drop=ctx.share(faults, "drop"),
    )
    if fault_values.transient + fault_values.permanent + fault_values.drop > 1:
        raise ctx.error("transient + permanent + drop must not exceed 1", "sink.faults")
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
        outages=_outages(ctx, section.get("outages")),
        engine=engine,
        **_auth(ctx, section.get("auth")),
    )


def _auth(ctx: _Ctx, data: Any) -> dict[str, str | None]:
    if data is None:
        return {}
    section = ctx.mapping(data, "sink.auth", ("user", "password"))
    values: dict[str, str | None] = {}
    for name in ("user", "password"):
        value = section.get(name)
        if not isinstance(value, str) or not value:
            raise ctx.error("expected a non-empty string", f"sink.auth.{name}")
        values[f"auth_{name}"] = value
    return values


_SINK_KEYS: Final = {"processes": "sink.processes", "max_connections": "sink.max_connections"}


def _check_sink_limits(ctx: _Ctx, processes: int, max_connections: int | None) -> None:
    """The sink's own checks, at the scenario's key path."""
    try:
        SinkConfig(processes=processes, max_connections=max_connections)
    except ConfigError as exc:
        raise ctx.located(exc, _SINK_KEYS.get(exc.what, "sink")) from exc


def _outages(ctx: _Ctx, data: Any) -> tuple[Outage, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ctx.error(f"expected a list of {{at, duration}}, got {_show(data)}", "sink.outages")
    out: list[Outage] = []
    for i, item in enumerate(data):
        section = ctx.mapping(item, f"sink.outages[{i}]", ("at", "duration"))
        out.append(
            Outage(
                at=ctx.parsed(section, "at", parse_duration, default=_MISSING),
                duration=ctx.parsed(
                    section, "duration", parse_duration, default=_MISSING, positive=True
                ),
            )
        )
    return tuple(out)


def _consumer(ctx: _Ctx, data: Any) -> Consumer:
    section = ctx.mapping(
        data,
        "consumer",
        (
            "workers",
            "buffer",
            "connection_reuse",
            "priority_lanes",
            "retries",
            "retry_backoff",
            "send_timeout",
            "instances",
            "command",
            "env",
        ),
    )
    command = ctx.optional_str(section, "command")
    env_section = section.get("env") or {}
    if not isinstance(env_section, dict):
        raise ctx.error(
            f"expected a mapping of names to strings, got {_show(env_section)}", "consumer.env"
        )
    env: dict[str, str] = {}
    for name, value in env_section.items():
        key = f"consumer.env.{name}"
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            raise ctx.error(f"expected a string, got {_show(value)}", key)
        env[name] = str(value)
        _check_placeholders(ctx, env[name], key)
    if command is not None:
        _check_placeholders(ctx, command, "consumer.command")
    default = Consumer()
    return Consumer(
        workers=ctx.integer(section, "workers", default=default.workers, minimum=1),
        buffer=ctx.integer(section, "buffer", default=default.buffer, minimum=0),
        connection_reuse=ctx.value(
            section, "connection_reuse", bool, "true or false", default=default.connection_reuse
        ),
        priority_lanes=ctx.value(
            section, "priority_lanes", bool, "true or false", default=default.priority_lanes
        ),
        retries=ctx.integer(section, "retries", default=default.retries, minimum=0),
        retry_backoff_s=ctx.parsed(
            section, "retry_backoff", parse_duration, default=default.retry_backoff_s
        ),
        send_timeout_s=ctx.parsed(
            section, "send_timeout", parse_duration, default=default.send_timeout_s, positive=True
        ),
        instances=ctx.integer(section, "instances", default=1, minimum=1),
        command=command,
        env=env,
    )


def _check_placeholders(ctx: _Ctx, text: str, key: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ctx.error(f"bad placeholder syntax ({exc}); write '{{{{' for a brace", key) from exc
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            raise ctx.error(f"unknown placeholder {{{name}}} (known: {known})", key)


def _load(ctx: _Ctx, data: Any) -> Load:
    section = ctx.mapping(
        data,
        "load",
        (
            "rate",
            "duration",
            "warmup",
            "drain",
            "cooldown",
            "count",
            "seed",
            "poison",
            "compression",
            "producer",
            "priorities",
        ),
    )
    rate = section.get("rate", "saturate")
    rate_per_s: float | None = None
    profile: tuple[RateStep, ...] = ()
    if isinstance(rate, list):
        profile = _profile(ctx, rate)
    elif rate != "saturate":
        rate_per_s = ctx.parsed(section, "rate", parse_rate, default=None)
    load = Load(
        rate_per_s=rate_per_s,
        profile=profile,
        duration_s=ctx.parsed(section, "duration", parse_duration, default="20s", positive=True),
        warmup_s=ctx.parsed(section, "warmup", parse_duration, default="5s"),
        drain_s=ctx.parsed(section, "drain", parse_duration, default="10s"),
        cooldown_s=ctx.parsed(section, "cooldown", parse_duration, default="1s"),
        count=ctx.integer(section, "count", default=None, minimum=1, optional=True),
        seed=ctx.integer(section, "seed", default=1, minimum=0),
        poison=ctx.share(section, "poison", below_one=True),
        compression=_compression(ctx, section),
        producer=_producer(ctx, section.get("producer")),
        priorities=_priorities(ctx, section.get("priorities")),
    )
    return load


def _priorities(ctx: _Ctx, data: Any) -> str:
    """`{high: 0.1, normal: 0.3, low: 0.6}` (shares) or the load generator's text form."""
    if data is None:
        return DEFAULT_PRIORITIES
    if isinstance(data, dict):
        text = ",".join(f"{name}:{weight}" for name, weight in data.items())
    elif isinstance(data, str):
        text = data
    else:
        raise ctx.error(
            f"expected a mapping like {{high: 0.1, normal: 0.3, low: 0.6}}, got {_show(data)}",
            "load.priorities",
        )
    try:
        return parse_priorities(text).text
    except ConfigError as exc:
        raise ctx.located(exc, "load.priorities") from exc


def _compression(ctx: _Ctx, section: dict[str, Any]) -> str:
    choices = (COMPRESSION_AUTO, *COMPRESSIONS)
    value = section.get("compression", COMPRESSION_AUTO)
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise ctx.error(
            f"expected one of {', '.join(choices)}, got {_show(value)}", "load.compression"
        )
    return value.strip().lower()


def _producer(ctx: _Ctx, data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ctx.error(
            f"expected a mapping of librdkafka settings, like {{linger.ms: 5}}, got {_show(data)}",
            "load.producer",
        )
    settings: dict[str, str] = {}
    for key, value in data.items():
        problem = producer_setting_error(key, value)
        if problem is not None:
            raise ctx.error(problem, f"load.producer.{key}")
        settings[key] = producer_setting_text(value)
    refused = librdkafka_setting_error(settings)
    if refused is not None:
        key, reason = refused
        raise ctx.error(reason, f"load.producer.{key}" if key else "load.producer")
    return settings


def _profile(ctx: _Ctx, data: list[Any]) -> tuple[RateStep, ...]:
    if not data:
        raise ctx.error("a rate profile needs at least one {rate, duration} step", "load.rate")
    steps: list[RateStep] = []
    for i, item in enumerate(data):
        section = ctx.mapping(item, f"load.rate[{i}]", ("rate", "duration"))
        steps.append(
            RateStep(
                rate_per_s=ctx.parsed(section, "rate", parse_rate, default=_MISSING),
                duration_s=ctx.parsed(
                    section, "duration", parse_duration, default=_MISSING, positive=True
                ),
            )
        )
    return tuple(steps)


def _sweep(ctx: _Ctx, data: Any) -> Sweep:
    if data is None:
        return Sweep()
    if not isinstance(data, dict):
        raise ctx.error(f"expected a mapping of dotted paths to lists, got {_show(data)}", "sweep")
    mode = data.get("mode", "zip")
    if mode not in ("zip", "grid"):
        raise ctx.error(f"expected 'zip' or 'grid', got {_show(mode)}", "sweep.mode")
    axes: list[tuple[str, tuple[Any, ...]]] = []
    for path, values in data.items():
        if path == "mode":
            continue
        key = f"sweep.{path}"
        if not isinstance(path, str):
            raise ctx.error("expected a dotted path like consumer.workers", key)
        if not isinstance(values, list) or not values:
            raise ctx.error(f"expected a non-empty list of values, got {_show(values)}", key)
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


def _allow(ctx: _Ctx, data: Any) -> Allow:
    if data is None:
        return Allow()
    section = ctx.mapping(data, "allow", ("lost", "duplicates"))
    return Allow(
        lost=ctx.integer(section, "lost", default=0, minimum=0),
        duplicates=ctx.integer(section, "duplicates", default=0, minimum=0),
    )


def _gates(ctx: _Ctx, data: Any) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ctx.error(f"expected a list of expressions, got {_show(data)}", "gates")
    for i, text in enumerate(data):
        try:
            parse_gate(text)
        except ConfigError as exc:
            raise ctx.error(str(exc), f"gates[{i}]") from exc
    return tuple(text.strip() for text in data)


def cross_check(scenario: Scenario) -> None:
    """Checks that involve several sections (run again for every sweep point)."""
    ctx = _Ctx(scenario.source)
    load = scenario.load
    for i, outage in enumerate(scenario.sink.outages):
        if outage.at + outage.duration > load.total_s:
            raise ctx.error(
                f"outage ends at {outage.at + outage.duration:g}s, after the load stops "
                f"(warmup {load.warmup_s:g}s + duration {load.duration_s:g}s)",
                f"sink.outages[{i}]",
            )
    if scenario.consumer.instances > scenario.topic.partitions:
        raise ctx.error(
            f"{scenario.consumer.instances} instances but only {scenario.topic.partitions} "
            "partitions: the extra instances would sit idle",
            "consumer.instances",
        )


def sweep_paths(canonical: Mapping[str, Any]) -> list[str]:
    """Every dotted path a sweep may set: the leaves of the canonical form."""
    out: list[str] = []
    for section in ("broker", "topic", "sink", "consumer", "load"):
        for name, value in canonical[section].items():
            out.append(f"{section}.{name}")
            # Mappings of free names are swept whole (their names may contain dots).
            if isinstance(value, dict) and name not in ("env", "producer"):
                out.extend(f"{section}.{name}.{leaf}" for leaf in value)
    return out
