"""Build a `SinkConfig` from the human strings that flags and scenario files use.

Every error is a `ConfigError` whose `what` is the `SinkConfig` field it is about
(`command_latency` for a `--latency-at` item); `poolbench sink` names the flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from poolbench.errors import ConfigError
from poolbench.sink.config import Auth, Engine, SinkConfig, TlsMode
from poolbench.sink.faults import FaultConfig, normalize_command, parse_outage, parse_rate_limit
from poolbench.sink.latency import LatencyModel, parse_latency


def parse_step_latency(text: str, *, what: str = "command_latency") -> tuple[str, LatencyModel]:
    """`MAIL=20ms`, `greeting=uniform:5ms..50ms` -> (step, model)."""
    step, eq, model = text.partition("=")
    if not eq:
        raise ConfigError(what=what, expected="STEP=MODEL like MAIL=20ms", got=text)
    return normalize_command(step, what=what), parse_latency(model, what=what)


def build_config(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: str = "0",
    latency_at: Sequence[str] = (),
    transient: float = 0.0,
    permanent: float = 0.0,
    drop: float = 0.0,
    fault_at: Sequence[str] = ("DATA",),
    auth_fail: float = 0.0,
    max_connections: int | None = None,
    rate_limit: str | None = None,
    outages: Sequence[str] = (),
    auth: str | None = None,
    tls: str = "none",
    processes: int = 1,
    isolated: bool = False,
    record: str | Path | None = None,
    seed: int = 0,
    hostname: str = "poolbench-sink",
    keep_receipts: bool = True,
    engine: str = "fast",
) -> SinkConfig:
    return SinkConfig(
        host=host,
        port=port,
        latency=parse_latency(latency, what="latency"),
        command_latency=dict(parse_step_latency(item) for item in latency_at),
        faults=FaultConfig(
            transient=transient,
            permanent=permanent,
            drop=drop,
            commands=tuple(fault_at) or ("DATA",),
            auth_fail=auth_fail,
        ),
        max_connections=max_connections,
        rate_limit=None if rate_limit is None else parse_rate_limit(rate_limit),
        outages=tuple(parse_outage(text) for text in outages),
        auth=None if auth is None else Auth.parse(auth),
        tls=cast(TlsMode, tls),  # SinkConfig checks it is one
        processes=processes,
        isolated=isolated,
        record_path=None if record is None else Path(record),
        seed=seed,
        hostname=hostname,
        keep_receipts=keep_receipts,
        engine=cast(Engine, engine),
    )
