"""The validated scenario: frozen data, durations in seconds, rates per second.

Built only by `poolbench.scenario.parse` (which checks every value); `to_dict` gives
the canonical form that is hashed, stored with results and overridden by sweeps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from poolbench.consumer.settings import DEFAULTS as CONSUMER_DEFAULTS

SweepMode = Literal["zip", "grid"]

DEFAULT_TOPIC: Final = "email-queue"
# `load.compression`: `auto` picks per consumer (see `poolbench.scenario.kafka`).
COMPRESSION_AUTO: Final = "auto"
DEFAULT_DLQ: Final = "email-dlq"

# Placeholders a foreign consumer's command and env may use; the runner fills them in.
PLACEHOLDERS: Final = frozenset(
    {
        "workers",
        "buffer",
        "bootstrap",
        "topic",
        "dlq_topic",
        "group",
        "smtp_host",
        "smtp_port",
        "instance",
    }
)


DEFAULT_WARMUP_MAX_S: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    """The embedded broker (`bootstrap_servers` None) or an existing cluster."""

    bootstrap_servers: str | None = None
    brokers: int = 1  # embedded only: brokers in the mock cluster

    @property
    def embedded(self) -> bool:
        return self.bootstrap_servers is None

    def to_dict(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers, "brokers": self.brokers}


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    name: str = DEFAULT_TOPIC
    partitions: int = 8
    dlq: str = DEFAULT_DLQ

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "partitions": self.partitions, "dlq": self.dlq}


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Shares of emails the sink answers with a fault (each between 0 and 1)."""

    transient: float = 0.0  # 4xx: try again later
    permanent: float = 0.0  # 5xx: give up (dead letter)
    drop: float = 0.0  # connection closed mid-transaction

    def to_dict(self) -> dict[str, Any]:
        return {"transient": self.transient, "permanent": self.permanent, "drop": self.drop}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """The sink refuses connections from `at` for `duration` seconds (load time)."""

    at: float
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "duration": self.duration}


@dataclass(frozen=True, slots=True, kw_only=True)
class Sink:
    latency: str = "0ms"  # passed through to the sink, which parses it
    processes: int = 1
    faults: Faults = field(default_factory=Faults)
    max_connections: int | None = None
    rate_limit_per_s: float | None = None
    outages: tuple[Outage, ...] = ()
    engine: str = "fast"  # the sink's SMTP engine: fast or aiosmtpd (the reference)
    # AUTH the sink requires, and our consumer then sends; the password is masked in
    # every result, report and log.
    auth_user: str | None = None
    auth_password: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "latency": self.latency,
            "processes": self.processes,
            "faults": self.faults.to_dict(),
            "max_connections": self.max_connections,
            "rate_limit": self.rate_limit_per_s,
            "outages": [o.to_dict() for o in self.outages],
        }
        if self.engine != "fast":  # only when not the default: older scenario hashes hold
            doc["engine"] = self.engine
        if self.auth_user is not None:
            doc["auth"] = {"user": self.auth_user, "password": self.auth_password}
        return doc


# Which `ConsumerSettings` field each consumer key sets: one place for the mapping.
# Every event normal, in the load generator's canonical text (the `Mix.text` form).
DEFAULT_PRIORITIES: Final = "normal:1"

SETTINGS_FIELDS: Final = {
    "workers": "workers",
    "buffer": "buffer",
    "connection_reuse": "connection_reuse",
    "retries": "max_retries",
    "retry_backoff_s": "retry_base_s",
    "send_timeout_s": "smtp_timeout_s",
    "priority_lanes": "priority_lanes",
    "starts_per_pass": "starts_per_pass",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumer:
    """poolbench's pooled consumer, or a foreign one when `command` is set.

    The defaults are the consumer's own (`ConsumerSettings`), so a scenario that does not
    say runs the consumer as `poolbench consume` would. Connection reuse is on: a scenario
    modelling the seed's Go service (a connection per email) sets it false.
    """

    workers: int = CONSUMER_DEFAULTS.workers
    buffer: int = CONSUMER_DEFAULTS.buffer
    connection_reuse: bool = CONSUMER_DEFAULTS.connection_reuse
    retries: int = CONSUMER_DEFAULTS.max_retries
    retry_backoff_s: float = CONSUMER_DEFAULTS.retry_base_s
    send_timeout_s: float = CONSUMER_DEFAULTS.smtp_timeout_s
    priority_lanes: bool = CONSUMER_DEFAULTS.priority_lanes
    # New emails started per event-loop pass (`poolbench/consumer/start_gate.py`; 0: no gate).
    starts_per_pass: int = CONSUMER_DEFAULTS.starts_per_pass
    instances: int = 1
    command: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    @property
    def foreign(self) -> bool:
        return self.command is not None

    def settings_values(self) -> dict[str, object]:
        """This section as `ConsumerSettings` fields, for `load_settings` (as flags, so they
        beat the environment) and then `dump_settings` into the consumer's settings file."""
        return {field: getattr(self, name) for name, field in SETTINGS_FIELDS.items()}

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "workers": self.workers,
            "buffer": self.buffer,
            "connection_reuse": self.connection_reuse,
            "retries": self.retries,
            "retry_backoff": self.retry_backoff_s,
            "send_timeout": self.send_timeout_s,
            "instances": self.instances,
            "command": self.command,
            "env": dict(self.env),
        }
        doc["priority_lanes"] = self.priority_lanes
        if self.starts_per_pass != CONSUMER_DEFAULTS.starts_per_pass:
            # only when not the default: older scenario hashes hold
            doc["starts_per_pass"] = self.starts_per_pass
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class RateStep:
    """One step of a rate profile: `rate_per_s` for `duration_s`."""

    rate_per_s: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate_per_s, "duration": self.duration_s}


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What the load generator offers.

    Exactly one of: a fixed open-model rate (`rate_per_s`), `saturate` (as fast as the
    consumer takes it), or a `profile` of steps, played in order and looped.
    """

    rate_per_s: float | None = None
    profile: tuple[RateStep, ...] = ()
    duration_s: float = 20.0
    warmup_s: float = 5.0
    # The warm-up is extended until the consumer is steady (`poolbench.run.steady`), up
    # to this long; at least `warmup_s`.
    warmup_max_s: float = DEFAULT_WARMUP_MAX_S
    drain_s: float = 10.0
    cooldown_s: float = 1.0
    count: int | None = None
    seed: int = 1
    poison: float = 0.0
    compression: str = COMPRESSION_AUTO  # auto, none, gzip, snappy, lz4, zstd
    producer: Mapping[str, str] = field(default_factory=dict)  # librdkafka settings
    priorities: str = DEFAULT_PRIORITIES  # the events' priority mix, "high:1,normal:3,low:6"

    def __post_init__(self) -> None:
        object.__setattr__(self, "producer", MappingProxyType(dict(self.producer)))

    @property
    def saturate(self) -> bool:
        return self.rate_per_s is None and not self.profile

    @property
    def total_s(self) -> float:
        """Warm-up plus measured window: how long the load runs."""
        return self.warmup_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        rate: Any
        if self.profile:
            rate = [step.to_dict() for step in self.profile]
        elif self.rate_per_s is None:
            rate = "saturate"
        else:
            rate = self.rate_per_s
        return {
            "rate": rate,
            "duration": self.duration_s,
            "warmup": self.warmup_s,
            # Only when set: the default leaves every existing scenario's hash unchanged.
            **(
                {}
                if self.warmup_max_s == DEFAULT_WARMUP_MAX_S
                else {"warmup_max": self.warmup_max_s}
            ),
            "drain": self.drain_s,
            "cooldown": self.cooldown_s,
            "count": self.count,
            "seed": self.seed,
            "poison": self.poison,
            "compression": self.compression,
            "producer": dict(self.producer),
            "priorities": self.priorities,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    """Values by dotted path; `zip` pairs them in order, `grid` takes every combination."""

    mode: SweepMode = "zip"
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(path for path, _ in self.axes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        out.update({path: list(values) for path, values in self.axes})
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Allow:
    """What a run may lose and still pass (`allow:`): nothing, unless a scenario says so
    explicitly (a fault demonstration that dead-letters or drops on purpose)."""

    lost: int = 0
    duplicates: int = 0
    # Events the embedded broker's retention removed before the group read them. Such a
    # point measured the broker and fails, unless a scenario that overloads on purpose
    # (to study the backlog) allows this many; its figures are then of the events kept.
    retention_drops: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lost": self.lost,
            "duplicates": self.duplicates,
            "retention_drops": self.retention_drops,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    description: str = ""
    broker: Broker = field(default_factory=Broker)
    topic: Topic = field(default_factory=Topic)
    sink: Sink = field(default_factory=Sink)
    consumer: Consumer = field(default_factory=Consumer)
    load: Load = field(default_factory=Load)
    sweep: Sweep = field(default_factory=Sweep)
    repeats: int = 1
    gates: tuple[str, ...] = ()
    allow: Allow = field(default_factory=Allow)
    source: str = field(default="", compare=False)  # the file it came from, if any
    # The line of each key path in that file, for errors found later (sweep points).
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: every key, defaults filled in, seconds and per-second."""
        return {
            "name": self.name,
            "description": self.description,
            "broker": self.broker.to_dict(),
            "topic": self.topic.to_dict(),
            "sink": self.sink.to_dict(),
            "consumer": self.consumer.to_dict(),
            "load": self.load.to_dict(),
            "sweep": self.sweep.to_dict(),
            "repeats": self.repeats,
            "gates": list(self.gates),
            "allow": self.allow.to_dict(),
        }

    @property
    def scenario_hash(self) -> str:
        """sha256 of the canonical JSON: equal for scenarios that mean the same run."""
        doc = self.to_dict()
        # Producer keys at their defaults are left out, so that the hashes of scenarios
        # (and baselines) from before these keys existed stay what they were.
        if doc["load"]["compression"] == COMPRESSION_AUTO:
            del doc["load"]["compression"]
        if not doc["load"]["producer"]:
            del doc["load"]["producer"]
        if doc["load"]["priorities"] == DEFAULT_PRIORITIES:
            del doc["load"]["priorities"]
        if not doc["consumer"]["priority_lanes"]:
            del doc["consumer"]["priority_lanes"]
        if doc["allow"] == Allow().to_dict():
            del doc["allow"]
        elif not doc["allow"]["retention_drops"]:
            del doc["allow"]["retention_drops"]
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
