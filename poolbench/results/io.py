"""Measured results: immutable, validated objects and their versioned JSON file.

One `ResultSet` per run: the scenario and its hash, the environment it ran in, and one
`PointResult` per sweep point and repeat. `save` writes `results.json`; `load` reads it
back and rejects anything missing, mistyped or of another schema version, naming the
file and the field. Before two result sets are compared, `Environment.differences` says
what differs in a way that matters (host, CPUs, Python, library versions).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from poolbench import __version__
from poolbench.errors import ResultsError

# The results.json format. Bump on any change a reader of the old format would
# misread, and add a line here (pyperf keeps its format history the same way).
#   1: first format (poolbench 0.1.0).
SCHEMA_VERSION: Final = 1

RESULTS_FILE: Final = "results.json"

LATENCY_KEYS: Final = ("avg", "p50", "p90", "p95", "p99", "p999", "max")
_PERCENTILE_KEYS: Final = ("p50", "p90", "p95", "p99", "p999", "max")

# Names a gate expression may use; `PointResult.metrics()` gives their values.
METRIC_NAMES: Final = (
    "throughput",
    "ideal",
    "avg_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "memory_peak_mb",
    "memory_mean_mb",
    "cpu_percent",
    "lost",
    "duplicates",
    "dead_lettered",
    "delivered",
    "produced",
)

# Library versions recorded with every result; a difference makes numbers incomparable.
_DISTRIBUTIONS: Final = ("confluent-kafka", "aiosmtpd", "aiosmtplib")

ParamValue = str | int | float | bool | None
_T = TypeVar("_T")

# Relative slack for checks between values computed from the same histogram.
_SLACK = 1e-6


def _check(condition: bool, message: str, key: str) -> None:
    if not condition:
        raise ResultsError(message, key=key)


def _non_negative(value: float, key: str) -> None:
    _check(value >= 0, f"must not be negative, got {value!r}", key)


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
        for (low_key, low), (high_key, high) in zip(
            zip(_PERCENTILE_KEYS, values, strict=True),
            zip(_PERCENTILE_KEYS[1:], values[1:], strict=True),
            strict=False,
        ):
            _check(
                low <= high * (1 + _SLACK),
                f"percentiles must not decrease: {low_key}={low} > {high_key}={high}",
                high_key,
            )
        _check(
            self.avg <= self.max * (1 + _SLACK),
            f"avg={self.avg} exceeds max={self.max}",
            "avg",
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> Latency:
        """From a dict with the keys avg, p50 .. p999, max (e.g. `LatencySummary.as_dict()`)."""
        return cls(**{key: float(values[key]) for key in LATENCY_KEYS})

    def as_dict(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in LATENCY_KEYS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """Resident set size of the consumer process(es), in MB (10^6 bytes)."""

    peak: float
    mean: float

    def __post_init__(self) -> None:
        _non_negative(self.peak, "peak")
        _non_negative(self.mean, "mean")
        _check(
            self.mean <= self.peak * (1 + _SLACK),
            f"mean={self.mean} exceeds peak={self.peak}",
            "mean",
        )

    def as_dict(self) -> dict[str, float]:
        return {"peak": self.peak, "mean": self.mean}


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineSample:
    """One per-second sample of a point's run; `t_s` counts from the start of the load."""

    t_s: float
    delivered_per_s: float
    queue_depth: float
    p99_ms: float
    rss_mb: float

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "t_s":
                _non_negative(getattr(self, f.name), f.name)

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class PointResult:
    """What was measured at one sweep point and repeat.

    `lost` is derived (produced minus delivered, dead-lettered and dropped by the broker,
    never negative), not stored twice: the file carries it for readers, and `load` checks it.
    """

    params: Mapping[str, ParamValue]
    repeat: int
    throughput_per_s: float
    ideal_throughput_per_s: float
    latency_ms: Latency
    memory_mb: Memory
    cpu_percent: float
    produced: int
    delivered: int
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped_by_broker: int = 0
    wait_ms: Latency | None = None
    send_ms: Latency | None = None
    sink_cpu_percent: float | None = None
    loadgen_cpu_percent: float | None = None
    warnings: tuple[str, ...] = ()
    timeline: tuple[TimelineSample, ...] = ()
    histogram: str | None = None

    def __post_init__(self) -> None:
        # A read-only copy: the caller's dict cannot change a result after the fact.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        object.__setattr__(self, "timeline", tuple(self.timeline))
        _check(self.repeat >= 0, f"must not be negative, got {self.repeat}", "repeat")
        for name in ("throughput_per_s", "ideal_throughput_per_s", "cpu_percent"):
            _non_negative(getattr(self, name), name)
        for name in ("sink_cpu_percent", "loadgen_cpu_percent"):
            value = getattr(self, name)
            if value is not None:
                _non_negative(value, name)
        for name in (
            "produced",
            "delivered",
            "duplicates",
            "retried",
            "dead_lettered",
            "dropped_by_broker",
        ):
            _non_negative(getattr(self, name), name)

    @property
    def lost(self) -> int:
        # Messages the broker deleted (retention) never reached the consumer: not its loss.
        return max(0, self.produced - self.delivered - self.dead_lettered - self.dropped_by_broker)

    @property
    def has_losses(self) -> bool:
        return self.lost > 0

    @property
    def share_of_ideal(self) -> float | None:
        """Throughput as a fraction of the ideal; None when the ideal is unknown (0)."""
        if self.ideal_throughput_per_s <= 0:
            return None
        return self.throughput_per_s / self.ideal_throughput_per_s

    @property
    def params_key(self) -> str:
        """Canonical text of the params, to match points across result sets."""
        return json.dumps(dict(self.params), sort_keys=True, separators=(",", ":"))

    def metrics(self) -> dict[str, float]:
        """The values gate expressions see, by the names in `METRIC_NAMES`."""
        lat = self.latency_ms
        return {
            "throughput": self.throughput_per_s,
            "ideal": self.ideal_throughput_per_s,
            "avg_ms": lat.avg,
            "p50_ms": lat.p50,
            "p90_ms": lat.p90,
            "p95_ms": lat.p95,
            "p99_ms": lat.p99,
            "p999_ms": lat.p999,
            "max_ms": lat.max,
            "memory_peak_mb": self.memory_mb.peak,
            "memory_mean_mb": self.memory_mb.mean,
            "cpu_percent": self.cpu_percent,
            "lost": float(self.lost),
            "duplicates": float(self.duplicates),
            "dead_lettered": float(self.dead_lettered),
            "delivered": float(self.delivered),
            "produced": float(self.produced),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "repeat": self.repeat,
            "throughput_per_s": self.throughput_per_s,
            "ideal_throughput_per_s": self.ideal_throughput_per_s,
            "latency_ms": self.latency_ms.as_dict(),
            "wait_ms": None if self.wait_ms is None else self.wait_ms.as_dict(),
            "send_ms": None if self.send_ms is None else self.send_ms.as_dict(),
            "memory_mb": self.memory_mb.as_dict(),
            "cpu_percent": self.cpu_percent,
            "sink_cpu_percent": self.sink_cpu_percent,
            "loadgen_cpu_percent": self.loadgen_cpu_percent,
            "produced": self.produced,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "retried": self.retried,
            "dead_lettered": self.dead_lettered,
            "dropped_by_broker": self.dropped_by_broker,
            "lost": self.lost,
            "warnings": list(self.warnings),
            "timeline": [sample.as_dict() for sample in self.timeline],
            "histogram": self.histogram,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Where a result was measured. `versions` maps distribution name to version.

    `host` and `platform` (which includes the kernel release) are recorded but not
    compared: ephemeral CI runners change both on every run. `machine` (OS and
    architecture), `cpu_model`, `cpu_count`, Python and library versions are compared.
    """

    host: str
    platform: str
    machine: str
    cpu_model: str
    cpu_count: int
    python: str
    versions: Mapping[str, str | None]
    git_commit: str | None
    created_utc: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        _check(self.cpu_count >= 1, f"must be at least 1, got {self.cpu_count}", "cpu_count")

    @classmethod
    def capture(
        cls, *, repo_dir: Path | None = None, now: _dt.datetime | None = None
    ) -> Environment:
        """The environment of this process; the git commit of `repo_dir` (default: cwd)."""
        moment = now if now is not None else _dt.datetime.now(_dt.UTC)
        return cls(
            host=socket.gethostname(),
            platform=platform.platform(),
            machine=f"{platform.system()} {platform.machine()}",
            cpu_model=_cpu_model(),
            cpu_count=os.cpu_count() or 1,
            python=platform.python_version(),
            versions=_library_versions(),
            git_commit=_git_commit(repo_dir if repo_dir is not None else Path.cwd()),
            created_utc=moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def differences(self, other: Environment) -> list[str]:
        """What differs in a way that makes numbers incomparable; empty when comparable.

        The git commit and the time are expected to differ (that is what is compared)
        and are not reported.
        """
        out: list[str] = []
        for name in ("machine", "cpu_model", "cpu_count", "python"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: {mine!r} != {theirs!r}")
        for name in sorted(set(self.versions) | set(other.versions)):
            mine_v, theirs_v = self.versions.get(name), other.versions.get(name)
            if mine_v != theirs_v:
                out.append(f"{name}: {mine_v!r} != {theirs_v!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "platform": self.platform,
            "machine": self.machine,
            "cpu_model": self.cpu_model,
            "cpu_count": self.cpu_count,
            "python": self.python,
            "versions": dict(self.versions),
            "git_commit": self.git_commit,
            "created_utc": self.created_utc,
        }


def _cpu_model() -> str:
    """`model name` from /proc/cpuinfo on Linux; `platform.processor()` elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"poolbench": __version__}
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        kafka = importlib.import_module("confluent_kafka")
        versions["librdkafka"] = str(kafka.libversion()[0])
    except ImportError:
        versions["librdkafka"] = None
    return versions


def _git_commit(repo_dir: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultSet:
    """One run of a scenario: every point and repeat, with where and what was run."""

    scenario_name: str
    scenario: Mapping[str, Any]
    scenario_hash: str
    environment: Environment
    points: tuple[PointResult, ...] = ()
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", tuple(self.points))
        _check(
            self.schema_version == SCHEMA_VERSION,
            f"schema version {self.schema_version} is not supported "
            f"(this poolbench reads version {SCHEMA_VERSION})",
            "schema_version",
        )
        _check(bool(self.scenario_name), "must not be empty", "scenario_name")
        # Points are matched across result sets by (params, repeat): each must be unique.
        seen: dict[tuple[str, int], int] = {}
        for i, point in enumerate(self.points):
            key = (point.params_key, point.repeat)
            _check(
                key not in seen,
                f"same params and repeat as points[{seen.get(key)}]",
                f"points[{i}]",
            )
            seen[key] = i

    def with_point(self, point: PointResult) -> ResultSet:
        """A copy with one more point (the runner adds them as they are measured)."""
        return ResultSet(
            scenario_name=self.scenario_name,
            scenario=self.scenario,
            scenario_hash=self.scenario_hash,
            environment=self.environment,
            points=(*self.points, point),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "scenario_name": self.scenario_name,
            "scenario_hash": self.scenario_hash,
            "scenario": _plain(self.scenario),
            "environment": self.environment.to_dict(),
            "points": [point.to_dict() for point in self.points],
        }


def _plain(value: Any) -> Any:
    """Mappings and tuples as JSON's dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_directory(root: Path | str, result_set: ResultSet) -> Path:
    """`root/<scenario>/<UTC timestamp>`, e.g. `results/quick/20261127T210000Z`."""
    stamp = result_set.environment.created_utc.replace("-", "").replace(":", "")
    return Path(root) / result_set.scenario_name / stamp


def save(result_set: ResultSet, directory: Path | str) -> Path:
    """Write `results.json` into `directory` (created if needed); returns the file."""
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / RESULTS_FILE
    tmp = target.with_name(f".{RESULTS_FILE}.tmp")
    # Write then rename, so an interrupted run never leaves half a file behind.
    tmp.write_text(json.dumps(result_set.to_dict(), indent=2, allow_nan=False) + "\n")
    tmp.replace(target)
    return target


def load(path: Path | str) -> ResultSet:
    """Read a `results.json` (or a directory holding one), validating every field."""
    file = Path(path)
    if file.is_dir():
        file = file / RESULTS_FILE
    try:
        text = file.read_text()
    except FileNotFoundError as exc:
        raise ResultsError("no such results file", path=str(file)) from exc
    except OSError as exc:
        raise ResultsError(f"cannot read: {exc.strerror}", path=str(file)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"not valid JSON ({exc.msg}, line {exc.lineno})", path=str(file)
        ) from exc
    try:
        return from_dict(data)
    except ResultsError as exc:
        raise ResultsError(exc.message, path=str(file), key=exc.key) from exc


def from_dict(data: Any) -> ResultSet:
    """Validate a decoded results.json; errors name the field path."""
    top = _Obj(data, "")
    version = top.get("schema_version", int)
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"schema version {version} is not supported "
            f"(this poolbench reads version {SCHEMA_VERSION})",
            key="schema_version",
        )
    result = ResultSet(
        scenario_name=top.get("scenario_name", str),
        scenario_hash=top.get("scenario_hash", str),
        scenario=top.get("scenario", dict),
        environment=_environment(_Obj(top.raw("environment"), "environment")),
        points=tuple(_point(p) for p in top.items("points")),
    )
    top.done()
    return result


class _Obj:
    """A JSON object being read: typed access by key, errors with the key's path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ResultsError(f"expected an object, got {type(data).__name__}", key=where or ".")
        self.data: dict[str, Any] = data
        self.where = where
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def raw(self, name: str, *, optional: bool = False) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if optional:
                return None
            raise ResultsError("missing", key=self.key(name))
        return self.data[name]

    def get(self, name: str, kind: type, *, optional: bool = False) -> Any:
        value = self.raw(name, optional=optional)
        if value is None and optional:
            return None
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise ResultsError(
                f"expected {_KIND_NAMES.get(kind, kind.__name__)}, got {value!r}",
                key=self.key(name),
            )
        return value

    def sub(self, name: str, *, optional: bool = False) -> _Obj | None:
        value = self.raw(name, optional=optional)
        if value is None and optional:
            return None
        return _Obj(value, self.key(name))

    def items(self, name: str) -> list[tuple[Any, str]]:
        value = self.get(name, list)
        return [(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            raise ResultsError(f"unknown key {extra[0]!r}", key=self.key(extra[0]))


_KIND_NAMES: Final = {float: "a number", int: "an integer", str: "a string", list: "a list"}


def _within(where: str, build: Callable[..., _T], **kwargs: Any) -> _T:
    """Call a validating constructor; prefix its error's key with `where`."""
    try:
        return build(**kwargs)
    except ResultsError as exc:
        key = f"{where}.{exc.key}" if exc.key else where
        raise ResultsError(exc.message, key=key) from exc


def _environment(obj: _Obj) -> Environment:
    versions_obj = _Obj(obj.raw("versions"), obj.key("versions"))
    versions: dict[str, str | None] = {}
    for name in versions_obj.data:
        versions[name] = versions_obj.get(name, str, optional=True)
    env = _within(
        obj.where,
        Environment,
        host=obj.get("host", str),
        platform=obj.get("platform", str),
        machine=obj.get("machine", str),
        cpu_model=obj.get("cpu_model", str),
        cpu_count=obj.get("cpu_count", int),
        python=obj.get("python", str),
        versions=versions,
        git_commit=obj.get("git_commit", str, optional=True),
        created_utc=obj.get("created_utc", str),
    )
    obj.done()
    return env


def _latency(obj: _Obj) -> Latency:
    values = {key: obj.get(key, float) for key in LATENCY_KEYS}
    obj.done()
    return _within(obj.where, Latency, **values)


def _optional_latency(obj: _Obj, name: str) -> Latency | None:
    sub = obj.sub(name, optional=True)
    return None if sub is None else _latency(sub)


def _point(item: tuple[Any, str]) -> PointResult:
    data, where = item
    obj = _Obj(data, where)
    params_obj = _Obj(obj.raw("params"), obj.key("params"))
    for name, value in params_obj.data.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise ResultsError(f"expected a scalar, got {value!r}", key=params_obj.key(name))
    memory_obj = _Obj(obj.raw("memory_mb"), obj.key("memory_mb"))
    memory = _within(
        memory_obj.where,
        Memory,
        peak=memory_obj.get("peak", float),
        mean=memory_obj.get("mean", float),
    )
    memory_obj.done()
    warnings = obj.get("warnings", list)
    for i, text in enumerate(warnings):
        if not isinstance(text, str):
            raise ResultsError(
                f"expected a string, got {text!r}", key=f"{obj.key('warnings')}[{i}]"
            )
    timeline: list[TimelineSample] = []
    for sample_data, sample_where in obj.items("timeline"):
        sample_obj = _Obj(sample_data, sample_where)
        values = {f.name: sample_obj.get(f.name, float) for f in fields(TimelineSample)}
        sample_obj.done()
        timeline.append(_within(sample_where, TimelineSample, **values))
    point = _within(
        where,
        PointResult,
        params=dict(params_obj.data),
        repeat=obj.get("repeat", int),
        throughput_per_s=obj.get("throughput_per_s", float),
        ideal_throughput_per_s=obj.get("ideal_throughput_per_s", float),
        latency_ms=_latency(_Obj(obj.raw("latency_ms"), obj.key("latency_ms"))),
        wait_ms=_optional_latency(obj, "wait_ms"),
        send_ms=_optional_latency(obj, "send_ms"),
        memory_mb=memory,
        cpu_percent=obj.get("cpu_percent", float),
        sink_cpu_percent=obj.get("sink_cpu_percent", float, optional=True),
        loadgen_cpu_percent=obj.get("loadgen_cpu_percent", float, optional=True),
        produced=obj.get("produced", int),
        delivered=obj.get("delivered", int),
        duplicates=obj.get("duplicates", int),
        retried=obj.get("retried", int),
        dead_lettered=obj.get("dead_lettered", int),
        dropped_by_broker=obj.get("dropped_by_broker", int),
        warnings=tuple(warnings),
        timeline=tuple(timeline),
        histogram=obj.get("histogram", str, optional=True),
    )
    stored_lost = obj.get("lost", int, optional=True)
    if stored_lost is not None and stored_lost != point.lost:
        raise ResultsError(
            f"{stored_lost} disagrees with produced - delivered - dead_lettered"
            f" - dropped_by_broker = {point.lost}",
            key=obj.key("lost"),
        )
    obj.done()
    return point
