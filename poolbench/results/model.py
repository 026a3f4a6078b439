"""The result model: immutable, validated records of what a run measured.

One `ResultSet` per run: the scenario and its hash, the environment it ran in, and one
`PointResult` per sweep point and repeat. A figure that was not measured is None (shown
as "n/a"), never 0. File I/O is in `poolbench.results.io`.

Why one module of ~520 lines: these records are the results.json format together, and
`SCHEMA_VERSION` with its history below versions all of them: a change to any record is
a format change, read against that history in the same file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final

from poolbench.errors import ResultsError
from poolbench.results.environment import Environment
from poolbench.wire import PRIORITIES

# The results.json format. Bump on any change a reader of the old format would
# misread, and add a line here (pyperf keeps its format history the same way).
#   1: first format (poolbench 0.1.0).
#   2: accounting by id (`lost` stored, `inconsistencies`); throughput by receipt with
#      `offered_per_s` and `kept_up`; both latencies every time (`latency_ms` is end to
#      end, `service_ms` worker start to receipt; `send_ms` is gone) and `load_mode`;
#      `budget_ms` (where the send time goes); `cpu_by_part` and `harness_saturated`
#      (replacing sink/loadgen_cpu_percent); memory peak from the kernel's high-water
#      mark; `error`, and None for figures a point did not measure; the consumer's
#      effective `consumer_settings` (secrets masked); timeline gaps as None;
#      `by_priority` and the timeline's `p99_by_priority_ms` for mixed-priority loads.
#   3: the timeline carries the consumer's `retried_per_s`, `dead_lettered_per_s` and
#      Kafka `lag` (None: not scraped); a point's `load_s` (when its load ended, on the
#      timeline's clock); a run's `failed_points` (points with an error, beside
#      `partial`). Version 2 files still load: the new figures read None / 0 there.
#   4: `ideal_throughput_per_s` is null when there is no finite bound (a 0 ms sink under
#      saturation), never 0.0 (older files' 0.0 reads as null); the exact CPU cost per
#      part (`cpu_us_per_email`, `sink_cpu_us_per_email`, `loadgen_cpu_us_per_email`, and
#      `cpu_cost` with the interval, its emails and the CPU per thread name, from the
#      kernel's nanosecond counters); `gates`: each scenario gate's verdict on the point
#      with the values it read; the budget's event-loop lags (`consumer_lag_*_ms`,
#      `sink_lag_*_ms`). Version 2 and 3 files still load: none of these there.
#   5: `produced` and `delivered` are null on a point that counted nothing (a part of
#      the harness failed under load), never 0. Older files load as they were.
SCHEMA_VERSION: Final = 5
# Older versions this poolbench still reads (their missing fields read as not measured).
READABLE_VERSIONS: Final = (2, 3, 4, 5)
# Versions whose figures are counted alike, so a baseline in one gates a run in another
# (3, 4 and 5 only added fields beside version 2's, or null where nothing was counted).
_COUNTED_ALIKE: Final = frozenset({2, 3, 4, 5})


def comparable_versions(a: int, b: int) -> bool:
    """Whether figures of results.json versions `a` and `b` may be compared."""
    return a == b or {a, b} <= _COUNTED_ALIKE


LATENCY_KEYS: Final = ("avg", "p50", "p90", "p95", "p99", "p999", "max")
_PERCENTILE_KEYS: Final = ("p50", "p90", "p95", "p99", "p999", "max")
BUDGET_KEYS: Final = (
    "send_ms",
    "connect_ms",
    "handshake_ms",
    "client_ms",
    "server_latency_ms",
    "server_ms",
    "residual_ms",
)
CPU_PARTS: Final = ("consumer", "sink", "loadgen", "broker", "runner", "machine")
# The parts with a CPU cost per email, and their field names.
CPU_COST_FIELDS: Final = {
    "consumer": "cpu_us_per_email",
    "sink": "sink_cpu_us_per_email",
    "loadgen": "loadgen_cpu_us_per_email",
}

# Names a gate expression may use; `PointResult.metrics()` gives their values (NaN when
# the point did not measure it, so every comparison with it fails).
METRIC_NAMES: Final = (
    "throughput",
    "offered",
    "ideal",
    "kept_up",
    *(f"{key}_ms" for key in LATENCY_KEYS),
    *(f"service_{key}_ms" for key in LATENCY_KEYS),
    "memory_peak_mb",
    "memory_mean_mb",
    "cpu_percent",
    *(f"{part}_cpu_percent" for part in CPU_PARTS if part != "consumer"),
    *(f"{part}cpu_us_per_email" for part in ("", "sink_", "loadgen_")),
    "harness_saturated",
    *(
        name
        for priority in PRIORITIES
        for name in (f"{priority}_p99_ms", f"{priority}_service_p99_ms", f"{priority}_throughput")
    ),
    "lost",
    "duplicates",
    "dead_lettered",
    "dropped_by_broker",
    "retried",
    "inconsistencies",
    "delivered",
    "produced",
)

ParamValue = str | int | float | bool | None

# Relative slack for checks between values computed from the same histogram.
_SLACK = 1e-6


def check(condition: bool, message: str, key: str) -> None:
    if not condition:
        raise ResultsError(message, key=key)


def _non_negative(value: float | None, key: str) -> None:
    if value is not None:
        check(value >= 0, f"must not be negative, got {value!r}", key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Milliseconds: mean, percentiles and maximum of one latency distribution."""

    avg: float
    p50: float
    p90: float
    p95: float
    p99: float
    p999: float
    max: float

    def __post_init__(self) -> None:
        for key in LATENCY_KEYS:
            _non_negative(getattr(self, key), key)
        values = [getattr(self, key) for key in _PERCENTILE_KEYS]
        for i in range(len(values) - 1):
            check(
                values[i] <= values[i + 1] * (1 + _SLACK),
                f"percentiles must not decrease: {_PERCENTILE_KEYS[i]}={values[i]} > "
                f"{_PERCENTILE_KEYS[i + 1]}={values[i + 1]}",
                _PERCENTILE_KEYS[i + 1],
            )
        check(self.avg <= self.max * (1 + _SLACK), f"avg={self.avg} exceeds max={self.max}", "avg")

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> Latency:
        """From a dict with the keys avg, p50 .. p999, max (e.g. `LatencySummary.as_dict()`)."""
        return cls(**{key: float(values[key]) for key in LATENCY_KEYS})

    def as_dict(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in LATENCY_KEYS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """The consumer's memory in MB (10^6 bytes): peak = the kernel's high-water mark of
    resident memory (VmHWM, summed over its processes); mean = of the sampled RSS."""

    peak: float
    mean: float

    def __post_init__(self) -> None:
        _non_negative(self.peak, "peak")
        _non_negative(self.mean, "mean")
        check(self.mean <= self.peak * (1 + _SLACK), f"mean={self.mean} exceeds peak", "mean")

    def as_dict(self) -> dict[str, float]:
        return {"peak": self.peak, "mean": self.mean}


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Where the mean send time of an email went, in ms (see `poolbench.run.budget`)."""

    emails: int
    new_connections: int
    send_ms: float
    connect_ms: float
    handshake_ms: float
    client_ms: float
    server_latency_ms: float
    server_ms: float
    residual_ms: float
    after_ms: float | None = None
    # Event-loop lag over the point (poolbench.metrics.loop_lag); None: not measured.
    consumer_lag_p50_ms: float | None = None
    consumer_lag_p99_ms: float | None = None
    consumer_lag_max_ms: float | None = None
    sink_lag_p50_ms: float | None = None
    sink_lag_p99_ms: float | None = None
    sink_lag_max_ms: float | None = None

    PARTS = ("connect_ms", "handshake_ms", "client_ms", "server_latency_ms", "server_ms")

    def __post_init__(self) -> None:
        check(self.emails >= 1, f"must be at least 1, got {self.emails}", "emails")

    def parts(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.PARTS}

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityResult:
    """One priority's share of a point (mixed-priority loads)."""

    emails: int
    throughput_per_s: float
    latency_ms: Latency | None  # end to end
    service_ms: Latency | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "emails": self.emails,
            "throughput_per_s": self.throughput_per_s,
            "latency_ms": None if self.latency_ms is None else self.latency_ms.as_dict(),
            "service_ms": None if self.service_ms is None else self.service_ms.as_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineSample:
    """One per-second sample of a point's run; `t_s` counts from the start of the load.
    None: nothing to measure in that second (no delivery, no scrape, no sample)."""

    t_s: float
    delivered_per_s: float
    queue_depth: float | None
    p99_ms: float | None
    rss_mb: float | None
    p99_by_priority_ms: Mapping[str, float | None] = field(default_factory=dict)
    retried_per_s: float | None = None  # the consumer's retries in that second
    dead_lettered_per_s: float | None = None
    lag: float | None = None  # the consumer's Kafka lag (messages not yet fetched)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "p99_by_priority_ms", MappingProxyType(dict(self.p99_by_priority_ms))
        )
        for name in (
            "delivered_per_s",
            "queue_depth",
            "p99_ms",
            "rss_mb",
            "retried_per_s",
            "dead_lettered_per_s",
            "lag",
        ):
            _non_negative(getattr(self, name), name)
        for priority in self.p99_by_priority_ms:
            check(priority in PRIORITIES, f"unknown priority {priority!r}", "p99_by_priority_ms")

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["p99_by_priority_ms"] = dict(self.p99_by_priority_ms)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class PartCpu:
    """One part's exact CPU over an interval of the steady-state window: the difference
    of the kernel's nanosecond counters read at its start and end, summed over the part's
    processes (see `poolbench.run.cpu_cost`). `threads`: CPU seconds per thread name
    ("exited threads": of threads that ended inside the interval); `busiest_share`: the
    single busiest thread's CPU over the interval, 1.0 = one core."""

    cpu_s: float
    interval_s: float
    emails: int  # received by the sink inside the same interval
    threads: Mapping[str, float] = field(default_factory=dict)
    busiest_thread: str | None = None
    busiest_share: float = 0.0
    processes_exited: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", MappingProxyType(dict(self.threads)))
        for name in ("cpu_s", "emails", "busiest_share", "processes_exited"):
            _non_negative(getattr(self, name), name)
        check(self.interval_s > 0, f"must be positive, got {self.interval_s}", "interval_s")
        for name, value in self.threads.items():
            _non_negative(value, f"threads.{name}")

    @property
    def us_per_email(self) -> float | None:
        """CPU microseconds per email of the interval; None with no email."""
        return self.cpu_s * 1e6 / self.emails if self.emails else None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["threads"] = dict(self.threads)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """One scenario gate's verdict on a point: `measured` is the comparison with its
    numbers ("612 < 500") or why it could not be evaluated ("n/a: ..."); `values`: the
    figures it read (None: the point has no value for it)."""

    gate: str
    passed: bool
    measured: str
    values: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        for name in self.values:
            check(name in METRIC_NAMES, f"unknown figure {name!r}", "values")

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "measured": self.measured,
            "values": dict(self.values),
        }


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointResult:
    """What was measured at one sweep point and repeat.

    `error` set: the point failed or measured nothing; the figures it could not measure
    are None. Every count is by id (`poolbench.run.accounting`); `lost` is stored.
    """

    params: Mapping[str, ParamValue]
    repeat: int
    load_mode: str
    throughput_per_s: float | None
    ideal_throughput_per_s: float | None  # None: no finite bound (never 0)
    latency_ms: Latency | None  # end to end
    memory_mb: Memory | None
    cpu_percent: float | None  # the consumer's, 100 = one core
    # None: nothing was counted (a part of the harness failed under load), never 0.
    produced: int | None
    delivered: int | None
    lost: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped_by_broker: int = 0
    # Still in Kafka, uncommitted, when the consumers stopped: not lost (the drain was
    # incomplete); 0 in files written before it was counted apart from `lost`.
    undelivered: int = 0
    inconsistencies: int = 0
    offered_per_s: float | None = None
    kept_up: bool | None = None
    service_ms: Latency | None = None
    wait_ms: Latency | None = None
    budget_ms: Budget | None = None
    cpu_by_part: Mapping[str, float] = field(default_factory=dict)
    harness_saturated: bool = False
    error: str | None = None
    by_priority: Mapping[str, PriorityResult] = field(default_factory=dict)
    consumer_settings: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    timeline: tuple[TimelineSample, ...] = ()
    histogram: str | None = None
    service_histogram: str | None = None
    load_s: float | None = None  # when the load ended, in seconds from its start
    cpu_us_per_email: float | None = None  # the consumer's, exact (see `cpu_cost`)
    sink_cpu_us_per_email: float | None = None
    loadgen_cpu_us_per_email: float | None = None
    cpu_cost: Mapping[str, PartCpu] = field(default_factory=dict)
    gates: tuple[GateResult, ...] = ()
    # The consumer's start-up, in seconds from its start (`poolbench.run.measure.StartUp`):
    # to ready (None: a foreign consumer does not say), to its first delivery, and to the
    # steady state where the window opened (None: a fixed warm-up, or never steady).
    ready_s: float | None = None
    first_delivery_s: float | None = None
    steady_s: float | None = None

    def __post_init__(self) -> None:
        # Read-only copies: the caller's dicts cannot change a result after the fact.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "cpu_by_part", MappingProxyType(dict(self.cpu_by_part)))
        object.__setattr__(self, "by_priority", MappingProxyType(dict(self.by_priority)))
        for priority in self.by_priority:
            check(priority in PRIORITIES, f"unknown priority {priority!r}", "by_priority")
        if self.consumer_settings is not None:
            object.__setattr__(
                self, "consumer_settings", MappingProxyType(dict(self.consumer_settings))
            )
        object.__setattr__(self, "warnings", tuple(self.warnings))
        object.__setattr__(self, "gates", tuple(self.gates))
        object.__setattr__(self, "cpu_cost", MappingProxyType(dict(self.cpu_cost)))
        for part, name in CPU_COST_FIELDS.items():
            value = getattr(self, name)
            _non_negative(value, name)
            cost = self.cpu_cost.get(part)
            if cost is not None:
                derived = cost.us_per_email
                check(
                    (derived is None) == (value is None)
                    and (derived is None or value is None or math.isclose(derived, value)),
                    f"{value!r} disagrees with cpu_cost.{part} ({derived!r})",
                    name,
                )
        for part in self.cpu_cost:
            check(part in CPU_PARTS, f"unknown part {part!r}", f"cpu_cost.{part}")
        object.__setattr__(self, "timeline", tuple(self.timeline))
        check(self.repeat >= 0, f"must not be negative, got {self.repeat}", "repeat")
        check(
            self.load_mode in ("open", "saturate"),
            f"must be open or saturate, got {self.load_mode!r}",
            "load_mode",
        )
        for name in ("throughput_per_s", "ideal_throughput_per_s", "cpu_percent", "load_s"):
            _non_negative(getattr(self, name), name)
        for part, value in self.cpu_by_part.items():
            check(part in CPU_PARTS, f"unknown part {part!r}", f"cpu_by_part.{part}")
            _non_negative(value, f"cpu_by_part.{part}")
        counts = (
            "produced",
            "delivered",
            "lost",
            "duplicates",
            "retried",
            "dead_lettered",
            "dropped_by_broker",
            "undelivered",
            "inconsistencies",
        )
        for name in counts:
            _non_negative(getattr(self, name), name)
        if self.produced is None or self.delivered is None:
            # Nothing counted: no count may then claim anything, and the point failed.
            check(self.error is not None, "null only on a point with an error", "produced")
            for name in counts:
                check(not getattr(self, name), "must be null or 0 when nothing was counted", name)
        else:
            accounted = (
                self.delivered + self.dead_lettered + self.dropped_by_broker + self.lost
            ) + self.undelivered
            check(
                accounted == self.produced,
                f"delivered + dead_lettered + dropped_by_broker + lost + undelivered = "
                f"{accounted}, but produced = {self.produced}",
                "lost",
            )
        if self.error is None:
            # Memory may be missing without an error: a merge of many hosts samples none.
            for name in ("throughput_per_s", "latency_ms"):
                check(getattr(self, name) is not None, "missing on a point without error", name)

    @property
    def has_losses(self) -> bool:
        return self.lost > 0

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def share_of_ideal(self) -> float | None:
        """Throughput as a fraction of the ideal; None when either is unknown."""
        if not self.ideal_throughput_per_s or self.throughput_per_s is None:
            return None  # no finite bound, or an offered rate of 0
        return self.throughput_per_s / self.ideal_throughput_per_s

    @property
    def gate_failed(self) -> bool:
        """Whether a scenario gate failed on this point (its verdicts are in `gates`)."""
        return any(not g.passed for g in self.gates)

    def missing_reasons(self) -> dict[str, str]:
        """Why a figure of `metrics()` has no value, for the names a gate may read."""
        why: dict[str, str] = {}
        for name, value in self.metrics().items():
            if not math.isnan(value):
                continue
            if name == "ideal":
                why[name] = "the sink has no latency: there is no finite bound"
            elif self.error is not None:
                why[name] = f"the point failed: {self.error}"
            elif name.endswith("cpu_us_per_email"):
                why[name] = "no CPU counters or no email inside the steady-state window"
            else:
                why[name] = "not measured at this point"
        return why

    @property
    def sink_cpu_percent(self) -> float | None:
        return self.cpu_by_part.get("sink")

    @property
    def loadgen_cpu_percent(self) -> float | None:
        return self.cpu_by_part.get("loadgen")

    @property
    def send_ms(self) -> Latency | None:
        """The worker's time per email (start -> receipt): the service time."""
        return self.service_ms

    @property
    def params_key(self) -> str:
        """Canonical text of the params, to match points across result sets."""
        return json.dumps(dict(self.params), sort_keys=True, separators=(",", ":"))

    def metrics(self) -> dict[str, float]:
        """The values gate expressions see, by the names in `METRIC_NAMES`."""
        out: dict[str, float] = {
            "throughput": _nan(self.throughput_per_s),
            "offered": _nan(self.offered_per_s),
            "ideal": _nan(self.ideal_throughput_per_s),
            "kept_up": math.nan if self.kept_up is None else float(self.kept_up),
        }
        for prefix, lat in (("", self.latency_ms), ("service_", self.service_ms)):
            for key in LATENCY_KEYS:
                out[f"{prefix}{key}_ms"] = math.nan if lat is None else getattr(lat, key)
        memory = self.memory_mb
        out["memory_peak_mb"] = math.nan if memory is None else memory.peak
        out["memory_mean_mb"] = math.nan if memory is None else memory.mean
        out["cpu_percent"] = _nan(self.cpu_percent)
        for part in CPU_PARTS:
            if part != "consumer":
                out[f"{part}_cpu_percent"] = _nan(self.cpu_by_part.get(part))
        for name in CPU_COST_FIELDS.values():
            out[name] = _nan(getattr(self, name))
        out["harness_saturated"] = float(self.harness_saturated)
        for priority in PRIORITIES:
            share = self.by_priority.get(priority)
            e2e = None if share is None else share.latency_ms
            service = None if share is None else share.service_ms
            out[f"{priority}_p99_ms"] = math.nan if e2e is None else e2e.p99
            out[f"{priority}_service_p99_ms"] = math.nan if service is None else service.p99
            out[f"{priority}_throughput"] = math.nan if share is None else share.throughput_per_s
        for name in (
            "lost",
            "duplicates",
            "dead_lettered",
            "dropped_by_broker",
            "retried",
            "inconsistencies",
            "delivered",
            "produced",
        ):
            value = getattr(self, name)
            out[name] = math.nan if value is None else float(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Latency | Memory | Budget):
                value = value.as_dict()
            elif f.name == "cpu_cost":
                value = {part: cost.as_dict() for part, cost in value.items()}
            elif f.name == "gates":
                value = [gate.as_dict() for gate in value]
            elif f.name == "by_priority":
                value = {name: share.as_dict() for name, share in value.items()}
            elif f.name == "timeline":
                value = [sample.as_dict() for sample in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            doc[f.name] = value
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultSet:
    """One run of a scenario: every point and repeat, with where and what was run.

    `partial`: the run ended before every point was measured (Ctrl-C, a point that could
    not start); `stop_reason` says why. `failed_points`: how many points measured nothing
    usable (their `error` says why); a run with any is not a clean one either.
    """

    scenario_name: str
    scenario: Mapping[str, Any]
    scenario_hash: str
    environment: Environment
    points: tuple[PointResult, ...] = ()
    partial: bool = False
    stop_reason: str | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(self.points))
        check(
            self.schema_version in READABLE_VERSIONS,
            f"schema version {self.schema_version} is not supported "
            f"(this poolbench reads version {SCHEMA_VERSION})",
            "schema_version",
        )
        check(bool(self.scenario_name), "must not be empty", "scenario_name")
        # Points are matched across result sets by (params, repeat): each must be unique.
        seen: dict[tuple[str, int], int] = {}
        for i, point in enumerate(self.points):
            key = (point.params_key, point.repeat)
            check(
                key not in seen,
                f"same params and repeat as points[{seen.get(key)}]",
                f"points[{i}]",
            )
            seen[key] = i

    @property
    def failed_points(self) -> int:
        return sum(1 for point in self.points if point.failed)

    @property
    def status(self) -> str:
        """One of "complete", "partial" (stopped before the last point) or "failed" (every
        point ran, some measured nothing)."""
        if self.partial:
            return "partial"
        return "failed" if self.failed_points else "complete"

    def with_points(self, points: tuple[PointResult, ...]) -> ResultSet:
        """A copy with these points instead (e.g. with their gate verdicts)."""
        return ResultSet(
            scenario_name=self.scenario_name,
            scenario=self.scenario,
            scenario_hash=self.scenario_hash,
            environment=self.environment,
            points=points,
            partial=self.partial,
            stop_reason=self.stop_reason,
        )

    def with_point(self, point: PointResult) -> ResultSet:
        """A copy with one more point (the runner adds them as they are measured)."""
        return ResultSet(
            scenario_name=self.scenario_name,
            scenario=self.scenario,
            scenario_hash=self.scenario_hash,
            environment=self.environment,
            points=(*self.points, point),
            partial=self.partial,
            stop_reason=self.stop_reason,
        )

    def as_partial(self, reason: str) -> ResultSet:
        return ResultSet(
            scenario_name=self.scenario_name,
            scenario=self.scenario,
            scenario_hash=self.scenario_hash,
            environment=self.environment,
            points=self.points,
            partial=True,
            stop_reason=reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            # Written in this version's format, whichever version it was read from.
            "schema_version": SCHEMA_VERSION,
            "scenario_name": self.scenario_name,
            "scenario_hash": self.scenario_hash,
            "scenario": plain(self.scenario),
            "environment": self.environment.to_dict(),
            "partial": self.partial,
            "stop_reason": self.stop_reason,
            "failed_points": self.failed_points,
            "points": [point.to_dict() for point in self.points],
        }


def plain(value: Any) -> Any:
    """Mappings and tuples as JSON's dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
