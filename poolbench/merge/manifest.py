"""The manifest a shard writes beside its output: which shard of what it was, and its clock.

`poolbench produce --shard I/N --report FILE` and `poolbench sink --shard I/N --record
FILE` write `<FILE without suffix>.manifest.json`. `poolbench merge` uses it to refuse
shards of different loads (`params_hash`: the hash of the parameters every shard of a
role must share) and hosts whose clocks disagree (`clock_offset_ns`).

The clock offset is what the host's time service says about its own clock (positive:
the host is ahead of the reference), given by the user or the deployment in
`POOLBENCH_CLOCK_OFFSET` (a duration, e.g. `-0.4ms`); poolbench does not query chrony or
NTP itself, so an unknown offset is None, and is said to be unknown in the merged result.
`POOLBENCH_RUN_ID`, when set, names the run in every manifest, so shards of different
runs are refused even across roles.

The stamps in a shard's output (intended and sent times, receipt times) are
CLOCK_MONOTONIC ns of its host; `clock_wall_ns` and `clock_monotonic_ns` are a pair read
together at the shard's start (`poolbench.metrics.clock.clock_pair`), with which the
merge puts them on one wall timeline. The manifest's `format`, with its history:
  1 (no `format` field): stamps were wall-clock ns (`time.time_ns`); no clock pair.
  2: stamps are CLOCK_MONOTONIC ns; the clock pair `clock_wall_ns`/`clock_monotonic_ns`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from poolbench.errors import ConfigError, LocatedError
from poolbench.metrics.clock import ClockPair
from poolbench.units import parse_duration

KIND: Final = "poolbench-shard-manifest"
ROLES: Final = ("load", "sink")
CLOCK_OFFSET_ENV: Final = "POOLBENCH_CLOCK_OFFSET"
CLOCK_SOURCE_ENV: Final = "POOLBENCH_CLOCK_SOURCE"
# A name every shard of one run shares, whatever its role (the merge refuses a mix).
RUN_ID_ENV: Final = "POOLBENCH_RUN_ID"
SUFFIX: Final = ".manifest.json"
FORMAT: Final = 2  # see the module doc for the history


class ManifestError(LocatedError):
    """A manifest is missing a field or is not a manifest; names the file and field."""


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of `params` (what every shard of a role must share)."""
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardManifest:
    role: str  # "load" or "sink"
    shard: int
    shards: int
    output: str  # the file name of the report or ledger it describes, in the same folder
    params: Mapping[str, Any]
    params_hash: str
    host: str
    clock_offset_ns: int | None = None
    clock_source: str | None = None
    start_at_ns: int | None = None
    late_ns: int | None = None  # how far past start_at_ns the shard began
    run_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    clock_pair: ClockPair | None = None  # None in format 1 (stamps on the wall clock)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"manifest role must be one of {', '.join(ROLES)}, got {self.role!r}")

    @property
    def format(self) -> int:
        """1: stamps on the wall clock (no pair); 2: on CLOCK_MONOTONIC, with the pair."""
        return 1 if self.clock_pair is None else FORMAT

    @property
    def label(self) -> str:
        return f"{self.role} {self.shard}/{self.shards} on {self.host}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "role": self.role,
            "shard": self.shard,
            "shards": self.shards,
            "output": self.output,
            "params": dict(self.params),
            "params_hash": self.params_hash,
            "host": self.host,
            "clock_offset_ns": self.clock_offset_ns,
            "clock_source": self.clock_source,
            "start_at_ns": self.start_at_ns,
            "late_ns": self.late_ns,
            "run_id": self.run_id,
            "extra": dict(self.extra),
            "format": self.format,
            "clock_wall_ns": None if self.clock_pair is None else self.clock_pair.wall_ns,
            "clock_monotonic_ns": None if self.clock_pair is None else self.clock_pair.monotonic_ns,
        }


def manifest_path(output: Path) -> Path:
    """Where the manifest of `output` (a report or ledger file) goes."""
    return output.with_name(output.stem + SUFFIX)


def clock_offset_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[int | None, str | None]:
    """(offset in ns, source) from `POOLBENCH_CLOCK_OFFSET` / `POOLBENCH_CLOCK_SOURCE`."""
    env = os.environ if environ is None else environ
    text = env.get(CLOCK_OFFSET_ENV, "").strip()
    if not text:
        return None, None
    negative = text.startswith("-")
    seconds = parse_duration(text.lstrip("+-"), what=CLOCK_OFFSET_ENV)
    offset = round(seconds * 1e9) * (-1 if negative else 1)
    return offset, env.get(CLOCK_SOURCE_ENV, "").strip() or CLOCK_OFFSET_ENV


def make_manifest(
    *,
    role: str,
    shard: int,
    shards: int,
    output: Path,
    params: Mapping[str, Any],
    start_at_ns: int | None = None,
    late_ns: int | None = None,
    clock_pair: ClockPair,
    extra: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ShardManifest:
    """`clock_pair`: the shard's (wall, monotonic) pair, read together at its start."""
    offset, source = clock_offset_from_env(environ)
    return ShardManifest(
        role=role,
        shard=shard,
        shards=shards,
        output=output.name,
        params=dict(params),
        params_hash=params_hash(params),
        host=socket.gethostname(),
        clock_offset_ns=offset,
        clock_source=source,
        start_at_ns=start_at_ns,
        late_ns=late_ns,
        run_id=(os.environ if environ is None else environ).get(RUN_ID_ENV) or None,
        extra=dict(extra or {}),
        clock_pair=clock_pair,
    )


def write_manifest(manifest: ShardManifest, output: Path) -> Path:
    target = manifest_path(output)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(target)
    return target


def is_manifest(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == KIND


def manifest_from_dict(doc: Mapping[str, Any], *, path: str) -> ShardManifest:
    def get(key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        value = doc.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ManifestError(f"missing or of the wrong type: {value!r}", path=path, key=key)
        return value

    version = get("format", int, optional=True) or 1
    if version not in (1, FORMAT):
        raise ManifestError(
            f"format {version} is not one this poolbench reads (1, {FORMAT})",
            path=path,
            key="format",
        )
    wall, mono = (
        get("clock_wall_ns", int, optional=True),
        get("clock_monotonic_ns", int, optional=True),
    )
    if version >= 2 and (wall is None or mono is None):
        raise ManifestError(
            "format 2 needs the clock pair clock_wall_ns and clock_monotonic_ns",
            path=path,
            key="clock_wall_ns" if wall is None else "clock_monotonic_ns",
        )
    try:
        return ShardManifest(
            role=get("role", str),
            shard=get("shard", int),
            shards=get("shards", int),
            output=get("output", str),
            params=get("params", dict),
            params_hash=get("params_hash", str),
            host=get("host", str),
            clock_offset_ns=get("clock_offset_ns", int, optional=True),
            clock_source=get("clock_source", str, optional=True),
            start_at_ns=get("start_at_ns", int, optional=True),
            late_ns=get("late_ns", int, optional=True),
            run_id=get("run_id", str, optional=True),
            extra=get("extra", dict, optional=True) or {},
            clock_pair=None
            if version < 2
            else ClockPair(wall_ns=int(wall), monotonic_ns=int(mono)),
        )
    except ConfigError as exc:
        raise ManifestError(str(exc), path=path, key="role") from None
