"""The fake SMTP server: latency, faults, limits, TLS/AUTH, and a ledger of every email.

from poolbench.sink import SinkConfig, SinkServer, parse_latency
with SinkServer(SinkConfig(latency=parse_latency("100ms"))) as sink:
    ...  # send to sink.host:sink.port
    sink.counters(), sink.receipts(), sink.receipts_since(n), sink.pids()
"""

from __future__ import annotations

from poolbench.sink.config import Auth, SinkConfig, TlsMode
from poolbench.sink.counters import SinkCounters
from poolbench.sink.faults import (
    FaultConfig,
    Outage,
    OutageMode,
    RateLimit,
    parse_outage,
    parse_rate_limit,
)
from poolbench.sink.latency import LatencyModel, parse_latency
from poolbench.sink.ledger import read_ledger
from poolbench.sink.receipt import Receipt, Steps
from poolbench.sink.server import SinkServer
from poolbench.sink.tls import TlsMaterial, make_self_signed

__all__ = [
    "Auth",
    "FaultConfig",
    "LatencyModel",
    "Outage",
    "OutageMode",
    "RateLimit",
    "Receipt",
    "SinkConfig",
    "SinkCounters",
    "SinkServer",
    "Steps",
    "TlsMaterial",
    "TlsMode",
    "make_self_signed",
    "parse_latency",
    "parse_outage",
    "parse_rate_limit",
    "read_ledger",
]
