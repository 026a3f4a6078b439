"""What a load run is to do: `LoadSpec`, and the producer settings it may carry.

`LoadSpec.to_json`/`from_json` carry a spec to a load generator in another process, typed
(the rate profile as segments, never as text to parse again). How a run goes and what it
did are `poolbench.loadgen.report`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final

from confluent_kafka import KafkaException, Producer

from poolbench.errors import ConfigError
from poolbench.loadgen.events import (
    EventKnobs,
    KeySpec,
    Mix,
    parse_priorities,
    parse_templates,
)
from poolbench.loadgen.schedule import (
    RateProfile,
    parse_profile,
    profile_from_dict,
    profile_to_dict,
)
from poolbench.units import parse_duration

COMPRESSIONS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
# Producer settings poolbench owns: where to connect, how deliveries are reported (every
# acknowledgement is counted by id), the codec (`compression`), and no transactions
# (the loop never commits one).
RESERVED_PRODUCER_KEYS: Final = frozenset(
    {
        "bootstrap.servers",
        "metadata.broker.list",
        "on_delivery",
        "dr_cb",
        "dr_msg_cb",
        "delivery.report.only.error",
        "error_cb",
        "logger",
        "stats_cb",
        "throttle_cb",
        "oauth_cb",
        "compression.type",
        "compression.codec",
        "transactional.id",
    }
)
_QUOTED: Final = re.compile(r'"([^"]+)"')
# The runner's scenario word for "as fast as the consumer takes them".
SATURATE = "saturate"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSpec:
    """A load run. Text fields accept their flag forms (`"500/s"`, `"30s"`, `"hot:0.9"`).

    Bounded by `count`, `duration`, or both (whichever comes first). `backlog` (with the
    consumer `group` to watch) keeps produced minus committed near that many events;
    `rate="saturate"` means `max` with a backlog (default 2000). A backlog gate only goes
    with `max`: on a paced schedule it would delay intended times (coordinated omission).
    `stall_timeout`: seconds the gate may wait without the group committing anything
    before the run fails (`RunError`) instead of waiting forever.
    """

    topic: str = "email-queue"
    rate: RateProfile | str | float = "max"
    count: int | None = None
    duration: float | str | None = None
    backlog: int | None = None
    group: str | None = None
    keys: KeySpec | str = "none"
    templates: Mix | str = "plain"
    priorities: Mix | str = "normal"
    data_bytes: int = 0
    poison: float = 0.0
    seed: int = 0
    id_nonce: int | None = None
    compression: str = "lz4"
    linger_ms: float = 1.0
    connect_timeout: float = 10.0
    delivery_timeout: float = 30.0
    backlog_poll: float = 0.05
    stall_timeout: float = 30.0
    # More librdkafka producer settings (`linger.ms` here wins over `linger_ms`).
    producer: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "producer", MappingProxyType(check_producer_settings(self.producer))
        )
        rate = self.rate
        saturate = isinstance(rate, str) and rate.strip().lower() == SATURATE
        if saturate:
            rate = "max"
            if not self.group:
                raise ConfigError(
                    "saturate needs a consumer group to watch: give {group}, the group "
                    "whose committed offsets pace the load",
                    what="rate",
                    related=("group",),
                )
            if self.backlog is None:
                object.__setattr__(self, "backlog", 2000)
        if not isinstance(rate, RateProfile):
            rate = parse_profile(rate, what="rate")
        object.__setattr__(self, "rate", rate)
        if isinstance(self.duration, str):
            object.__setattr__(self, "duration", parse_duration(self.duration, what="duration"))
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", KeySpec.parse(self.keys))
        if isinstance(self.templates, str):
            object.__setattr__(self, "templates", parse_templates(self.templates))
        if isinstance(self.priorities, str):
            object.__setattr__(self, "priorities", parse_priorities(self.priorities))
        if not self.topic:
            raise ConfigError("must not be empty", what="topic", got=self.topic)
        if self.count is not None and self.count < 0:
            raise ConfigError("must not be negative", what="count", got=self.count)
        if self.duration is not None and (
            not isinstance(self.duration, int | float) or self.duration <= 0
        ):
            raise ConfigError("must be positive", what="duration", got=self.duration)
        if self.count is None and self.duration is None:
            raise ConfigError(
                "give {count}, {duration}, or both, to bound the run",
                what="count",
                related=("count", "duration"),
            )
        if self.backlog is not None:
            if self.backlog < 1:
                raise ConfigError("must be at least 1", what="backlog", got=self.backlog)
            if not self.group:
                raise ConfigError(
                    "needs {group}: the consumer group whose commits to watch",
                    what="backlog",
                    related=("group",),
                )
            if not saturate and not self.profile.is_max:
                # A gate on a paced schedule would shift intended times whenever the
                # consumer falls behind, hiding its latency (coordinated omission).
                raise ConfigError(
                    "only with {rate} max or saturate, got {rate} "
                    + self.profile.text.replace("{", "{{").replace("}", "}}")
                    + "; a paced schedule must not wait for the consumer",
                    what="backlog",
                    related=("rate",),
                )
        if self.compression not in COMPRESSIONS:
            choices = ", ".join(COMPRESSIONS)
            raise ConfigError(
                what="compression", expected=f"one of {choices}", got=self.compression
            )
        for name in ("linger_ms", "backlog_poll"):
            if getattr(self, name) < 0:
                raise ConfigError("must not be negative", what=name, got=getattr(self, name))
        for name in ("connect_timeout", "delivery_timeout", "stall_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError("must be positive", what=name, got=getattr(self, name))
        # Validates the knobs too.
        self.knobs()

    @property
    def profile(self) -> RateProfile:
        assert isinstance(self.rate, RateProfile)
        return self.rate

    @property
    def duration_s(self) -> float | None:
        return None if self.duration is None else float(self.duration)

    def knobs(self) -> EventKnobs:
        assert isinstance(self.keys, KeySpec)
        assert isinstance(self.templates, Mix)
        assert isinstance(self.priorities, Mix)
        return EventKnobs(
            keys=self.keys,
            templates=self.templates,
            priorities=self.priorities,
            data_bytes=self.data_bytes,
            poison_share=self.poison,
        )

    def describe(self) -> dict[str, Any]:
        """The spec as plain values, for reports."""
        knobs = self.knobs()
        return {
            "topic": self.topic,
            "rate": self.profile.text,
            "count": self.count,
            "duration_s": self.duration_s,
            "backlog": self.backlog,
            "group": self.group,
            "keys": knobs.keys.text,
            "templates": knobs.templates.text,
            "priorities": knobs.priorities.text,
            "data_bytes": self.data_bytes,
            "poison": self.poison,
            "seed": self.seed,
            "compression": self.compression,
            "linger_ms": self.linger_ms,
            "producer": dict(self.producer),
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON values: the profile as segments, knobs as their parts."""
        knobs = self.knobs()
        return {
            "topic": self.topic,
            "rate": profile_to_dict(self.profile),
            "count": self.count,
            "duration": self.duration_s,
            "backlog": self.backlog,
            "group": self.group,
            "keys": {
                "kind": knobs.keys.kind,
                "keys": knobs.keys.keys,
                "hot_share": knobs.keys.hot_share,
                "hot_keys": knobs.keys.hot_keys,
            },
            "templates": _mix_to_dict(knobs.templates),
            "priorities": _mix_to_dict(knobs.priorities),
            "data_bytes": self.data_bytes,
            "poison": self.poison,
            "seed": self.seed,
            "id_nonce": self.id_nonce,
            "compression": self.compression,
            "linger_ms": self.linger_ms,
            "connect_timeout": self.connect_timeout,
            "delivery_timeout": self.delivery_timeout,
            "backlog_poll": self.backlog_poll,
            "stall_timeout": self.stall_timeout,
            "producer": dict(self.producer),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, doc: Any) -> LoadSpec:
        """The inverse of `to_dict`: every key required, none unknown, every type checked."""
        if not isinstance(doc, dict):
            raise ConfigError(f"load spec: expected an object, got {type(doc).__name__}")
        expected = {f.name for f in fields(cls)}
        if set(doc) != expected:
            missing = sorted(expected - set(doc))
            unknown = sorted(set(doc) - expected)
            raise ConfigError(f"load spec: missing keys {missing}, unknown keys {unknown}")
        values = dict(doc)
        values["rate"] = profile_from_dict(doc["rate"])
        keys = _typed(doc, "keys", dict)
        values["keys"] = KeySpec(
            kind=_typed(keys, "kind", str, "keys"),
            keys=_typed(keys, "keys", int, "keys"),
            hot_share=float(_typed(keys, "hot_share", float, "keys")),
            hot_keys=_typed(keys, "hot_keys", int, "keys"),
        )
        values["templates"] = _mix_from_dict(doc, "templates")
        values["priorities"] = _mix_from_dict(doc, "priorities")
        for name in ("topic", "compression"):
            _typed(doc, name, str)
        for name in ("data_bytes", "seed"):
            _typed(doc, name, int)
        for name in ("count", "backlog", "id_nonce"):
            _typed(doc, name, int, optional=True)
        _typed(doc, "group", str, optional=True)
        _typed(doc, "duration", float, optional=True)
        for name in (
            "poison",
            "linger_ms",
            "connect_timeout",
            "delivery_timeout",
            "backlog_poll",
            "stall_timeout",
        ):
            values[name] = float(_typed(doc, name, float))
        producer = _typed(doc, "producer", dict)
        if not all(isinstance(v, str) for v in producer.values()):
            raise ConfigError(f"load spec: producer settings must be strings, got {producer!r}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"load spec: not valid JSON: {exc}") from exc
        return cls.from_dict(doc)


_JSON_KINDS: Final[dict[type, tuple[type, ...]]] = {
    float: (int, float),
    int: (int,),
    str: (str,),
    dict: (dict,),
    list: (list,),
}


def _typed(
    doc: Mapping[str, Any], name: str, kind: type, where: str = "", *, optional: bool = False
) -> Any:
    """`doc[name]` if it is of JSON type `kind` (ints count as floats, bools as neither)."""
    value = doc.get(name)
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, _JSON_KINDS[kind]):
        key = f"{where}.{name}" if where else name
        raise ConfigError(f"load spec: {key}: expected {kind.__name__}, got {value!r}")
    return value


def _mix_to_dict(mix: Mix) -> dict[str, Any]:
    return {"names": list(mix.names), "weights": list(mix.weights)}


def _mix_from_dict(doc: Mapping[str, Any], name: str) -> Mix:
    part = _typed(doc, name, dict)
    names = _typed(part, "names", list, name)
    weights = _typed(part, "weights", list, name)
    if (
        len(names) != len(weights)
        or not all(isinstance(n, str) for n in names)
        or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
    ):
        raise ConfigError(f"load spec: {name}: expected names and as many weights, got {part!r}")
    # The text form checks the names, duplicates and weights; the weights stay exact.
    parse = parse_templates if name == "templates" else parse_priorities
    parsed = parse(",".join(f"{n}:{w!r}" for n, w in zip(names, weights, strict=True)))
    return Mix(names=parsed.names, weights=tuple(float(w) for w in weights))


def producer_setting_error(key: Any, value: Any) -> str | None:
    """What is wrong with one producer setting (before librdkafka sees it), or None."""
    if not isinstance(key, str) or not key.strip():
        return f"setting names must be non-empty strings, got {key!r}"
    if key in RESERVED_PRODUCER_KEYS:
        if key.startswith("compression."):
            return "set by poolbench from the compression setting; use that instead"
        return "set by poolbench; it cannot be overridden"
    if value is None or not isinstance(value, str | int | float | bool):
        return f"expected a string, number or boolean, got {value!r}"
    return None


def producer_setting_text(value: str | int | float | bool) -> str:
    """librdkafka's text form of a setting's value (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def librdkafka_setting_error(settings: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(key or None, librdkafka's reason) if it refuses the settings; None if accepted.

    A producer is built and thrown away (a few ms): librdkafka alone knows its ~150
    properties, their aliases and ranges.
    """

    def refusal(conf: Mapping[str, str]) -> str | None:
        try:
            Producer({"log_level": 0, **conf})
        except (KafkaException, TypeError, ValueError) as exc:
            error = exc.args[0] if exc.args else exc
            return str(error.str() if hasattr(error, "str") else error)
        return None

    for key, value in settings.items():
        reason = refusal({key: value})
        if reason is not None:
            return key, reason
    reason = refusal(settings)
    if reason is not None:
        quoted = _QUOTED.search(reason)
        return (quoted.group(1) if quoted and quoted.group(1) in settings else None), reason
    return None


def check_producer_settings(
    settings: Mapping[Any, Any], *, what: str = "producer"
) -> dict[str, str]:
    """Validated producer settings as librdkafka strings; a `ConfigError` about `what`
    whose problem names the key."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        problem = producer_setting_error(key, value)
        if problem is not None:
            raise ConfigError(f"{key}: {problem}", what=what)
        out[key] = producer_setting_text(value)
    return out
