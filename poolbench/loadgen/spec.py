"""A load run: what to do (`LoadSpec`), how it goes (`LoadProgress`), what it did (`LoadReport`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from poolbench.errors import ConfigError
from poolbench.loadgen.events import (
    EventKnobs,
    KeySpec,
    Mix,
    parse_priorities,
    parse_templates,
)
from poolbench.loadgen.schedule import RateProfile, parse_profile
from poolbench.units import parse_duration

COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
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
    producer_config: dict[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rate = self.rate
        saturate = isinstance(rate, str) and rate.strip().lower() == SATURATE
        if saturate:
            rate = "max"
            if not self.group:
                raise ConfigError(
                    "--rate saturate needs a consumer group to watch: give --group, "
                    "the group whose committed offsets pace the load"
                )
            if self.backlog is None:
                object.__setattr__(self, "backlog", 2000)
        if not isinstance(rate, RateProfile):
            rate = parse_profile(rate, what="--rate")
        object.__setattr__(self, "rate", rate)
        if isinstance(self.duration, str):
            object.__setattr__(self, "duration", parse_duration(self.duration, what="--duration"))
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", KeySpec.parse(self.keys))
        if isinstance(self.templates, str):
            object.__setattr__(self, "templates", parse_templates(self.templates))
        if isinstance(self.priorities, str):
            object.__setattr__(self, "priorities", parse_priorities(self.priorities))
        if not self.topic:
            raise ConfigError("--topic: must not be empty")
        if self.count is not None and self.count < 0:
            raise ConfigError(f"--count: must not be negative, got {self.count}")
        if self.duration is not None and (
            not isinstance(self.duration, int | float) or self.duration <= 0
        ):
            raise ConfigError(f"--duration: must be positive, got {self.duration!r}")
        if self.count is None and self.duration is None:
            raise ConfigError("give --count, --duration, or both, to bound the run")
        if self.backlog is not None:
            if self.backlog < 1:
                raise ConfigError(f"--backlog: must be at least 1, got {self.backlog}")
            if not self.group:
                raise ConfigError(
                    "--backlog needs --group: the consumer group whose commits to watch"
                )
            if not saturate and not self.profile.is_max:
                # A gate on a paced schedule would shift intended times whenever the
                # consumer falls behind, hiding its latency (coordinated omission).
                raise ConfigError(
                    "--backlog: only with --rate max or saturate, got --rate "
                    f"{self.profile.text}; a paced schedule must not wait for the consumer"
                )
        if self.compression not in COMPRESSIONS:
            choices = ", ".join(COMPRESSIONS)
            raise ConfigError(f"--compression: expected one of {choices}, got {self.compression!r}")
        for flag, value in (("--linger-ms", self.linger_ms), ("backlog poll", self.backlog_poll)):
            if value < 0:
                raise ConfigError(f"{flag}: must not be negative, got {value}")
        for flag, value in (
            ("--connect-timeout", self.connect_timeout),
            ("delivery timeout", self.delivery_timeout),
            ("stall timeout", self.stall_timeout),
        ):
            if value <= 0:
                raise ConfigError(f"{flag}: must be positive, got {value}")
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
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadProgress:
    produced: int
    delivery_errors: int
    elapsed_s: float
    backlog: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What a load run did. Rates are measured, never the target.

    `produced`: events handed to the producer; `acknowledged`: confirmed by the broker;
    `achieved_rate`: acknowledged / `elapsed_s` (start to last acknowledgement);
    `send_rate`: produced / `send_elapsed_s` (start to last hand-over); `target_rate`:
    what the schedule meant over the same time (None for max). `schedule_lag_ms`: how far
    each send was behind its intended time (avg/p50/p99/max). `first_offsets`: per
    partition, the offset the run's first message got there (for `broker_drops`).
    `id_prefix`: every message id of this run starts with it (ids are unique across runs).
    """

    spec: dict[str, Any]
    partitions: int
    produced: int
    acknowledged: int
    delivery_errors: int
    first_error: str
    elapsed_s: float
    send_elapsed_s: float
    achieved_rate: float
    send_rate: float
    target_rate: float | None
    schedule_lag_ms: dict[str, float]
    first_offsets: dict[int, int]
    poison: dict[str, int]
    poison_ids: tuple[str, ...]
    id_prefix: str
    backlog_max: int | None
    stopped_early: bool
    start_wall_ns: int

    @property
    def complete(self) -> bool:
        """Every event produced was acknowledged."""
        return self.delivery_errors == 0 and self.acknowledged == self.produced

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["first_offsets"] = {str(p): o for p, o in self.first_offsets.items()}
        doc["poison_ids"] = list(self.poison_ids)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LoadReport:
        values = dict(doc)
        values["first_offsets"] = {int(p): int(o) for p, o in doc["first_offsets"].items()}
        values["poison_ids"] = tuple(doc["poison_ids"])
        return cls(**values)


def rate_or_none(count: float, seconds: float) -> float | None:
    if math.isinf(count) or seconds <= 0:
        return None
    return count / seconds
