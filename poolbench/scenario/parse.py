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

from poolbench.errors import ConfigError, ScenarioError, ScenarioErrors
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
        lines, duplicates = key_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"not valid YAML{where}: {problem}", path=file) from exc
    return parse_scenario(data, source=file, lines=lines, known_errors=duplicates)


def key_lines(text: str) -> tuple[dict[str, int], list[tuple[str, int, int]]]:
    """The line of every key path in a YAML text (`load.rate`, `sink.outages[0].at`), and
    every duplicate key as (path, line, line of the first one): the YAML loader would
    silently keep the last."""
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = str(key_node.value)
                child = _join(path, name)
                line = key_node.start_mark.line + 1
                if name in seen:
                    duplicates.append((child, line, seen[name]))
                    continue
                seen[name] = line
                lines[child] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                lines.setdefault(child, item.start_mark.line + 1)
                walk(item, child)

    if root is not None:
        lines[""] = root.start_mark.line + 1
        walk(root, "")
    return lines, duplicates


def parse_scenario(
    data: Any,
    *,
    source: str = "",
    lines: Mapping[str, int] | None = None,
    known_errors: list[tuple[str, int, int]] | None = None,
) -> Scenario:
    """Validate a decoded scenario (YAML or canonical dict).

    Every problem is found, not only the first: one raises a `ScenarioError`, several a
    `ScenarioErrors` listing them in file order (with `lines`, the line of each key path).
    """
    ctx = _Ctx(source, lines or {})
    for key, line, first in known_errors or ():
        ctx.errors.append(
            ScenarioError(f"duplicate key (first at line {first})", path=source, key=key, line=line)
        )
    if data is not None and not isinstance(data, dict):
        raise ctx.error(f"expected a mapping, got {_show(data)}", "(top level)")
    top = ctx.mapping(data, "", _TOP_KEYS)
    name = top.get("name", _MISSING)
    if name is _MISSING:
        ctx.fail("missing; expected a string", "name")
        name = "invalid"
    elif not isinstance(name, str) or not _NAME.match(name):
        ctx.fail(
            f"expected letters, digits, '.', '_' or '-' (it names a folder), got {_show(name)}",
            "name",
        )
        name = "invalid"
    scenario = Scenario(
        name=name,
        description=ctx.value(top, "description", str, "a string", default=""),
        broker=ctx.guard(_broker, top.get("broker", "embedded"), Broker()),
        topic=ctx.guard(_topic, top.get("topic"), Topic()),
        sink=ctx.guard(_sink, top.get("sink"), Sink()),
        consumer=ctx.guard(_consumer, top.get("consumer"), Consumer()),
        load=ctx.guard(_load, top.get("load"), Load()),
        sweep=ctx.guard(_sweep, top.get("sweep"), Sweep()),
        repeats=ctx.integer(top, "repeats", default=1, minimum=1),
        gates=ctx.guard(_gates, top.get("gates"), ()),
        allow=ctx.guard(_allow, top.get("allow"), Allow()),
        source=source,
        lines=dict(lines or {}),
    )
    known = sweep_paths(scenario.to_dict())
    for path in scenario.sweep.paths:
        if path not in known:
            hint = difflib.get_close_matches(path, known, n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            ctx.fail(f"unknown setting to sweep{also}", f"sweep.{path}")
    if not ctx.errors:
        # Checks across sections only on sections that are valid on their own (the
        # fallbacks of invalid ones would blame the wrong key).
        _cross_check(ctx, scenario)
    ctx.raise_errors()
    return scenario


def raise_all(errors: list[ScenarioError], *, path: str = "") -> None:
    """Raise `errors` in file order: one as itself, several as a `ScenarioErrors`."""
    if not errors:
        return
    ordered = sorted(errors, key=lambda e: e.line if e.line is not None else 1 << 30)
    if len(ordered) == 1:
        raise ordered[0]
    raise ScenarioErrors(ordered, path=path)


class _Ctx:
    """Typed reads from one file; errors carry the file, line and dotted key, and are
    collected (a bad value is replaced by its default so that the rest is still read)."""

    def __init__(self, source: str, lines: Mapping[str, int] | None = None) -> None:
        self.source = source
        self.lines = lines or {}
        self.errors: list[ScenarioError] = []

    def line_of(self, key: str) -> int | None:
        """The line of `key`, else of its nearest enclosing key (a missing key: its section)."""
        if not self.lines:
            return None
        path = "" if key == "(top level)" else key
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""

    def error(self, message: str, key: str) -> ScenarioError:
        return ScenarioError(message, path=self.source, key=key, line=self.line_of(key))

    def fail(self, message: str, key: str) -> None:
        """Record a problem at `key` and go on reading."""
        self.errors.append(self.error(message, key))

    def record(self, exc: ScenarioError) -> None:
        if isinstance(exc, ScenarioErrors):
            self.errors.extend(exc.errors)
        elif exc.line is None and self.lines:
            self.errors.append(
                ScenarioError(exc.message, path=exc.path, key=exc.key, line=self.line_of(exc.key))
            )
        else:
            self.errors.append(exc)

    def guard(self, read: Callable[[_Ctx, Any], _T], data: Any, fallback: _T) -> _T:
        """`read(self, data)`; on a problem it raised, record it and use `fallback`."""
        try:
            return read(self, data)
        except ScenarioError as exc:
            self.record(exc)
            return fallback

    def raise_errors(self) -> None:
        raise_all(self.errors, path=self.source)

    def located(self, exc: ConfigError, key: str) -> ScenarioError:
        """A library's error about the value at `key`, shown at the key path."""
        if exc.where or exc.what:
            return ScenarioError.from_config(exc, path=self.source, key=key, line=self.line_of(key))
        return self.error(str(exc), key)

    def mapping(self, data: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """`data` as a section; unknown keys are recorded and left out."""
        if data is None:
            return {"": key}
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {_show(data)}", key or "(top level)")
            return {"": key}
        section: dict[str, Any] = {"": key}
        for name, value in data.items():
            if name not in allowed:
                hint = difflib.get_close_matches(str(name), allowed, n=1)
                also = (
                    f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(allowed)})"
                )
                self.fail(f"unknown key{also}", _join(key, str(name)))
                continue
            section[name] = value
        return section

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
            self.fail(f"missing; expected {expected}", key)
            return kind()
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            self.fail(f"expected {expected}, got {_show(value)}", key)
            return default if default is not _MISSING else kind()
        return value

    def optional_str(self, section: dict[str, Any], name: str) -> str | None:
        if section.get(name) is None:
            return None
        count = len(self.errors)
        text = self.value(section, name, str, "a string")
        if len(self.errors) > count:
            return None
        if not text.strip():
            self.fail("must not be empty", _join(section[""], name))
            return None
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
        fallback = default if default is not None else minimum
        count = len(self.errors)
        value = self.value(section, name, int, "an integer", default=default)
        if len(self.errors) > count:
            return fallback
        if value < minimum:
            self.fail(f"must be at least {minimum}, got {value}", key)
            return fallback
        return value

    def share(self, section: dict[str, Any], name: str, *, below_one: bool = False) -> float:
        key = _join(section.get("", ""), name)
        value = section.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"expected a share between 0 and 1, got {_show(value)}", key)
            return 0.0
        if not 0 <= value <= 1 or (below_one and value == 1):
            bound = "1 (excluded)" if below_one else "1"
            self.fail(f"must be between 0 and {bound}, got {value}", key)
            return 0.0
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
        fallback = 1.0 if default is _MISSING or default is None else parse(default, what=key)
        if value is _MISSING:
            self.fail("missing", key)
            return fallback
        try:
            result = parse(value, what=key)
        except ConfigError as exc:
            self.errors.append(self.located(exc, key))
            return fallback
        if positive and result <= 0:
            self.fail(f"must be positive, got {_show(value)}", key)
            return fallback
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
        ctx.fail("only the embedded broker can be sized; remove it", "broker.brokers")
    return Broker(bootstrap_servers=servers, brokers=brokers)


def _topic(ctx: _Ctx, data: Any) -> Topic:
    section = ctx.mapping(data, "topic", ("name", "partitions", "dlq"))
    name = ctx.value(section, "name", str, "a topic name", default="email-queue")
    dlq = ctx.value(section, "dlq", str, "a topic name", default="email-dlq")
    if name == dlq:
        ctx.fail("the dead-letter topic must differ from the input topic", "topic.dlq")
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
        ctx.fail(f"expected one of {', '.join(ENGINES)}, got {_show(engine)}", "sink.engine")
        engine = "fast"
    latency = section.get("latency", "0ms")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        latency = f"{latency}s"  # a bare number means seconds, as everywhere else
    if not isinstance(latency, str) or not latency.strip():
        ctx.fail(
            f"expected a latency like '100ms' (or the sink's distribution syntax), "
            f"got {_show(latency)}",
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


def _auth(ctx: _Ctx, data: Any) -> dict[str, str | None]:
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


def _check_sink_limits(ctx: _Ctx, processes: int, max_connections: int | None) -> None:
    """The sink's own checks, at the scenario's key path."""
    try:
        SinkConfig(processes=processes, max_connections=max_connections)
    except ConfigError as exc:
        ctx.errors.append(ctx.located(exc, _SINK_KEYS.get(exc.what, "sink")))


def _outages(ctx: _Ctx, data: Any) -> tuple[Outage, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        ctx.fail(f"expected a list of {{at, duration}}, got {_show(data)}", "sink.outages")
        return ()
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
        ctx.fail(
            f"expected a mapping of names to strings, got {_show(env_section)}", "consumer.env"
        )
        env_section = {}
    env: dict[str, str] = {}
    for name, value in env_section.items():
        key = f"consumer.env.{name}"
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            ctx.fail(f"expected a string, got {_show(value)}", key)
            continue
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
        ctx.fail(f"bad placeholder syntax ({exc}); write '{{{{' for a brace", key)
        return
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            ctx.fail(f"unknown placeholder {{{name}}} (known: {known})", key)


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
        profile = ctx.guard(_profile, rate, ())
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
        compression=ctx.guard(_compression, section, COMPRESSION_AUTO),
        producer=ctx.guard(_producer, section.get("producer"), {}),
        priorities=ctx.guard(_priorities, section.get("priorities"), DEFAULT_PRIORITIES),
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
            ctx.fail(problem, f"load.producer.{key}")
            continue
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
        ctx.fail(f"expected 'zip' or 'grid', got {_show(mode)}", "sweep.mode")
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
            ctx.fail(f"expected a non-empty list of values, got {_show(values)}", key)
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
            ctx.fail(str(exc), f"gates[{i}]")
    return tuple(text.strip() for text in data)


def cross_check(scenario: Scenario) -> None:
    """Checks that involve several sections (run again for every sweep point)."""
    ctx = _Ctx(scenario.source, scenario.lines)
    _cross_check(ctx, scenario)
    ctx.raise_errors()


def _cross_check(ctx: _Ctx, scenario: Scenario) -> None:
    load = scenario.load
    for i, outage in enumerate(scenario.sink.outages):
        if outage.at + outage.duration > load.total_s:
            ctx.fail(
                f"outage ends at {outage.at + outage.duration:g}s, after the load stops "
                f"(warmup {load.warmup_s:g}s + duration {load.duration_s:g}s)",
                f"sink.outages[{i}]",
            )
    if scenario.consumer.instances > scenario.topic.partitions:
        ctx.fail(
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
