"""`SinkConfig`: everything the fake SMTP server does, frozen and validated on creation.

A `ConfigError` names the field (`what="max_connections"`, `"faults.transient"`), never a
flag: `poolbench sink` maps the field to its flag, the scenario parser to its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from poolbench.errors import ConfigError
from poolbench.sink.faults import NO_FAULTS, FaultConfig, Outage, RateLimit, normalize_command
from poolbench.sink.latency import NO_LATENCY, LatencyModel

TlsMode = Literal["none", "starttls", "implicit"]
TLS_MODES: tuple[TlsMode, ...] = ("none", "starttls", "implicit")
Engine = Literal["fast", "aiosmtpd"]
ENGINES: tuple[Engine, ...] = ("fast", "aiosmtpd")


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    """Credentials the server accepts (AUTH PLAIN and LOGIN); anything else gets 535."""

    user: str
    password: str

    @classmethod
    def parse(cls, text: str, *, what: str = "auth") -> Auth:
        user, colon, password = text.partition(":")
        if not colon or not user or not password:
            raise ConfigError(what=what, expected="USER:PASSWORD", got=text)
        return cls(user=user, password=password)


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkConfig:
    """The fake SMTP server's behaviour.

    `latency` delays the reply to DATA; `command_latency` adds delays to other steps
    (keys: greeting, MAIL, RCPT, DATA; a DATA entry replaces `latency`). With several
    `processes` the rate limit and the connection cap are split evenly between them
    (SO_REUSEPORT spreads connections by hash, so they are approximate there).
    """

    host: str = "127.0.0.1"
    port: int = 0
    # "fast": the asyncio.Protocol engine (engine_fast.py, on uvloop where installed);
    # "aiosmtpd": the reference engine the fast one is checked against.
    engine: Engine = "fast"
    latency: LatencyModel = NO_LATENCY
    command_latency: Mapping[str, LatencyModel] = field(default_factory=dict)
    faults: FaultConfig = NO_FAULTS
    max_connections: int | None = None
    rate_limit: RateLimit | None = None
    outages: tuple[Outage, ...] = ()
    auth: Auth | None = None
    tls: TlsMode = "none"
    processes: int = 1
    # Run even a single server in a child process, so it does not share the GIL with
    # the caller (always so with processes > 1).
    isolated: bool = False
    record_path: Path | None = None
    seed: int = 0
    hostname: str = "poolbench-sink"  # the banner name; set so aiosmtpd does no DNS lookup
    data_size_limit: int = 33_554_432
    timeout: float = 300.0  # seconds an idle connection is kept
    # False: `receipts()` is unavailable and only the ids are kept (for counting
    # duplicates), so a long run that needs only the counters has bounded memory.
    keep_receipts: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ConfigError(what="port", expected="0..65535", got=self.port)
        if self.engine not in ENGINES:
            raise ConfigError(
                what="engine", expected=f"one of {', '.join(ENGINES)}", got=self.engine
            )
        if self.tls not in TLS_MODES:
            raise ConfigError(what="tls", expected=f"one of {', '.join(TLS_MODES)}", got=self.tls)
        if isinstance(self.processes, bool) or not 1 <= self.processes <= 64:
            raise ConfigError(what="processes", expected="1..64", got=self.processes)
        if self.max_connections is not None and self.max_connections < self.processes:
            raise ConfigError(
                f"must be at least the number of processes ({self.processes})",
                what="max_connections",
                got=self.max_connections,
            )
        if self.timeout <= 0:
            raise ConfigError("must be positive", what="timeout", got=self.timeout)
        for outage in self.outages:
            if not isinstance(outage, Outage):
                raise ConfigError(what="outages", expected="Outage objects", got=outage)
        latencies = {
            normalize_command(k, what="command_latency"): v for k, v in self.command_latency.items()
        }
        object.__setattr__(self, "command_latency", latencies)
        if self.record_path is not None:
            object.__setattr__(self, "record_path", Path(self.record_path))

    def latency_for(self, command: str) -> LatencyModel | None:
        """The delay model of one step, or None when that step answers at once."""
        model = self.command_latency.get(command)
        if model is None and command == "DATA":
            model = self.latency
        if model is None or model == NO_LATENCY:
            return None
        return model

    @property
    def in_child_processes(self) -> bool:
        return self.isolated or self.processes > 1
