"""The results.json file: atomic save, and a load that validates every field.

`load` rejects anything missing, mistyped or of another schema version, naming the file
and the field (the history of the format is beside `SCHEMA_VERSION` in `model`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, Final, TypeVar

from poolbench.errors import ResultsError
from poolbench.results.environment import Environment
from poolbench.results.model import (
    BUDGET_KEYS,
    LATENCY_KEYS,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    Budget,
    GateResult,
    Latency,
    Memory,
    PartCpu,
    PointResult,
    PriorityResult,
    ResultSet,
    TimelineSample,
)

RESULTS_FILE: Final = "results.json"
_T = TypeVar("_T")


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
    if version not in READABLE_VERSIONS:
        older = isinstance(version, int) and version < SCHEMA_VERSION
        raise ResultsError(
            f"schema version {version} is not supported (this poolbench reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
            + (
                "; its figures were counted differently (see the format history in "
                "poolbench/results/model.py): measure again with `poolbench run`, or "
                "save a new baseline with `poolbench baseline save`"
                if older
                else ""
            ),
            key="schema_version",
        )
    result = ResultSet(
        scenario_name=top.get("scenario_name", str),
        scenario_hash=top.get("scenario_hash", str),
        scenario=top.get("scenario", dict),
        environment=_environment(_Obj(top.raw("environment"), "environment")),
        points=tuple(_point(p, version) for p in top.items("points")),
        partial=top.get("partial", bool),
        stop_reason=top.get("stop_reason", str, optional=True),
        schema_version=version,
    )
    # Derived from the points (version 3 on); a file that disagrees was edited.
    failed = top.get("failed_points", int, optional=version < 3)
    if failed is not None and failed != result.failed_points:
        raise ResultsError(
            f"says {failed}, but {result.failed_points} points have an error", key="failed_points"
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

    def get(self, name: str, kind: type, *, optional: bool = False, nullable: bool = False) -> Any:
        """`optional`: may be missing or null; `nullable`: must be there, may be null."""
        value = self.raw(name, optional=optional)
        if value is None and (optional or nullable):
            return None
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is bool:
            ok = isinstance(value, bool)
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


_KIND_NAMES: Final = {
    float: "a number",
    int: "an integer",
    str: "a string",
    list: "a list",
    bool: "true or false",
}


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


def _latency(obj: _Obj | None) -> Latency | None:
    if obj is None:
        return None
    values = {key: obj.get(key, float) for key in LATENCY_KEYS}
    obj.done()
    return _within(obj.where, Latency, **values)


def _memory(obj: _Obj | None) -> Memory | None:
    if obj is None:
        return None
    memory = _within(obj.where, Memory, peak=obj.get("peak", float), mean=obj.get("mean", float))
    obj.done()
    return memory


def _budget(obj: _Obj | None) -> Budget | None:
    if obj is None:
        return None
    values: dict[str, Any] = {key: obj.get(key, float) for key in BUDGET_KEYS}
    values["emails"] = obj.get("emails", int)
    values["new_connections"] = obj.get("new_connections", int)
    values["after_ms"] = obj.get("after_ms", float, optional=True)
    for side in ("consumer", "sink"):
        for figure in ("p50", "p99", "max"):
            key = f"{side}_lag_{figure}_ms"
            values[key] = obj.get(key, float, optional=True)
    obj.done()
    return _within(obj.where, Budget, **values)


def _strings(obj: _Obj, name: str) -> tuple[str, ...]:
    out = []
    for text, where in obj.items(name):
        if not isinstance(text, str):
            raise ResultsError(f"expected a string, got {text!r}", key=where)
        out.append(text)
    return tuple(out)


def _floats(obj: _Obj | None) -> dict[str, float]:
    if obj is None:
        return {}
    values = {name: obj.get(name, float) for name in list(obj.data)}
    obj.done()
    return values


def _cpu_cost(obj: _Obj | None) -> dict[str, PartCpu]:
    if obj is None:
        return {}
    out: dict[str, PartCpu] = {}
    for part in list(obj.data):
        cost = _Obj(obj.raw(part), obj.key(part))
        out[part] = _within(
            cost.where,
            PartCpu,
            cpu_s=cost.get("cpu_s", float),
            interval_s=cost.get("interval_s", float),
            emails=cost.get("emails", int),
            threads=_floats(cost.sub("threads")),
            busiest_thread=cost.get("busiest_thread", str, optional=True),
            busiest_share=cost.get("busiest_share", float),
            processes_exited=cost.get("processes_exited", int),
        )
        cost.done()
    obj.done()
    return out


def _gates(obj: _Obj, *, optional: bool) -> tuple[GateResult, ...]:
    if optional and obj.raw("gates", optional=True) is None:
        return ()
    out: list[GateResult] = []
    for data, where in obj.items("gates"):
        gate = _Obj(data, where)
        values = gate.sub("values")
        assert values is not None
        read = {name: values.get(name, float, optional=True) for name in list(values.data)}
        values.done()
        out.append(
            _within(
                where,
                GateResult,
                gate=gate.get("gate", str),
                passed=gate.get("passed", bool),
                measured=gate.get("measured", str),
                values=read,
            )
        )
        gate.done()
    return tuple(out)


def _point(item: tuple[Any, str], version: int) -> PointResult:
    data, where = item
    obj = _Obj(data, where)
    obj.raw("ideal_throughput_per_s")  # present in every version; null from version 4
    ideal = obj.get("ideal_throughput_per_s", float, optional=version >= 4)
    if version < 4 and ideal == 0.0:
        ideal = None  # versions 2 and 3 stored "no finite bound" as 0.0
    params_obj = _Obj(obj.raw("params"), obj.key("params"))
    for name, value in params_obj.data.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise ResultsError(f"expected a scalar, got {value!r}", key=params_obj.key(name))
    timeline: list[TimelineSample] = []
    for sample_data, sample_where in obj.items("timeline"):
        sample_obj = _Obj(sample_data, sample_where)
        values: dict[str, Any] = {
            f.name: sample_obj.get(f.name, float, optional=f.name not in ("t_s", "delivered_per_s"))
            for f in fields(TimelineSample)
            if f.name != "p99_by_priority_ms"
        }
        split = sample_obj.sub("p99_by_priority_ms", optional=True)
        if split is not None:
            values["p99_by_priority_ms"] = {
                name: split.get(name, float, optional=True) for name in list(split.data)
            }
            split.done()
        sample_obj.done()
        timeline.append(_within(sample_where, TimelineSample, **values))
    by_priority: dict[str, PriorityResult] = {}
    shares = obj.sub("by_priority", optional=True)
    if shares is not None:
        for name in list(shares.data):
            share = _Obj(shares.raw(name), shares.key(name))
            by_priority[name] = PriorityResult(
                emails=share.get("emails", int),
                throughput_per_s=share.get("throughput_per_s", float),
                latency_ms=_latency(share.sub("latency_ms", optional=True)),
                service_ms=_latency(share.sub("service_ms", optional=True)),
            )
            share.done()
        shares.done()
    settings = obj.raw("consumer_settings", optional=True)
    if settings is not None and not isinstance(settings, dict):
        raise ResultsError("expected an object", key=obj.key("consumer_settings"))
    point = _within(
        where,
        PointResult,
        params=dict(params_obj.data),
        repeat=obj.get("repeat", int),
        load_mode=obj.get("load_mode", str),
        error=obj.get("error", str, optional=True),
        throughput_per_s=obj.get("throughput_per_s", float, optional=True),
        offered_per_s=obj.get("offered_per_s", float, optional=True),
        kept_up=obj.get("kept_up", bool, optional=True),
        ideal_throughput_per_s=ideal,
        latency_ms=_latency(obj.sub("latency_ms", optional=True)),
        service_ms=_latency(obj.sub("service_ms", optional=True)),
        wait_ms=_latency(obj.sub("wait_ms", optional=True)),
        budget_ms=_budget(obj.sub("budget_ms", optional=True)),
        memory_mb=_memory(obj.sub("memory_mb", optional=True)),
        cpu_percent=obj.get("cpu_percent", float, optional=True),
        cpu_by_part=_floats(obj.sub("cpu_by_part", optional=True)),
        harness_saturated=obj.get("harness_saturated", bool),
        produced=obj.get("produced", int, nullable=True),
        delivered=obj.get("delivered", int, nullable=True),
        lost=obj.get("lost", int),
        duplicates=obj.get("duplicates", int),
        retried=obj.get("retried", int),
        dead_lettered=obj.get("dead_lettered", int),
        dropped_by_broker=obj.get("dropped_by_broker", int),
        undelivered=obj.get("undelivered", int, optional=True) or 0,
        inconsistencies=obj.get("inconsistencies", int),
        by_priority=by_priority,
        consumer_settings=settings,
        warnings=_strings(obj, "warnings"),
        timeline=tuple(timeline),
        histogram=obj.get("histogram", str, optional=True),
        service_histogram=obj.get("service_histogram", str, optional=True),
        load_s=obj.get("load_s", float, optional=True),
        cpu_us_per_email=obj.get("cpu_us_per_email", float, optional=True),
        sink_cpu_us_per_email=obj.get("sink_cpu_us_per_email", float, optional=True),
        loadgen_cpu_us_per_email=obj.get("loadgen_cpu_us_per_email", float, optional=True),
        cpu_cost=_cpu_cost(obj.sub("cpu_cost", optional=True)),
        gates=_gates(obj, optional=version < 4),
        ready_s=obj.get("ready_s", float, optional=True),
        first_delivery_s=obj.get("first_delivery_s", float, optional=True),
        steady_s=obj.get("steady_s", float, optional=True),
    )
    obj.done()
    return point
