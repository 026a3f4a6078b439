"""`SinkServer`: the fake SMTP server running in a background thread or child processes.

Two engines serve SMTP (`SinkConfig.engine`): "fast" (`engine_fast.py`, an
`asyncio.Protocol`, on uvloop when it is installed) and "aiosmtpd" (`handler.py`, the
reference). uvloop is only ever the loop of the sink's own thread or child process.

One process: by default an event loop in a daemon thread of the caller (cheap to start;
shares the caller's GIL). `isolated=True` or `processes > 1`: that many child processes
(spawned) listening on one port with SO_REUSEPORT; child 0 binds first (port 0 gives a
free port), the others join it. Children are pulled, not pushed: every `counters()` or
`receipts()` call asks each child for the receipts it accepted since the previous call
and its counters, over a pipe, so the caller sees a merged, current view and nothing
runs in the caller between calls. Duplicates (an id seen twice) are counted in the
merged stream, so they are caught across processes too.

CPU: thread mode reads the server thread's own CPU time (psutil, per-thread, Linux);
process mode sums the children's CPU times (psutil). Both count from when the sink
started serving (a child's imports are left out). `cpu_percent` is over the interval since
the previous `counters()` call (100 = one core), and after `stop()` over the whole run.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

from poolbench.errors import ConfigError, RunError
from poolbench.metrics.loop_lag import LoopLag, counts_from_counters
from poolbench.sink.backends import Backend, ProcessBackend, ThreadBackend
from poolbench.sink.config import SinkConfig
from poolbench.sink.counters import RawCounters, SinkCounters
from poolbench.sink.ledger import merge_parts
from poolbench.sink.receipt import Receipt
from poolbench.sink.tls import TlsMaterial, client_context, make_self_signed

log = logging.getLogger(__name__)


class SinkServer:
    """The fake SMTP server; `with SinkServer(config) as sink:` returns once it accepts.

    `host`/`port` are the real address; `counters()` and `receipts()` are merged across
    processes and may be called from any one thread at a time (they take a lock).
    """

    def __init__(self, config: SinkConfig, *, tls: TlsMaterial | None = None) -> None:
        self.config = config
        self.tls: TlsMaterial | None = None
        if config.tls != "none":
            self.tls = tls or make_self_signed(config.host)
        self._lock = threading.Lock()
        self._backend: Backend | None = None
        self._receipts: list[Receipt] = []
        self._seen: set[str] = set()
        self._duplicates = 0
        self._raw: dict[str, int] = {}
        self._lag_counts: dict[int, int] = {}
        self._cpu_mark = (0.0, 0.0)  # (monotonic, cpu seconds) at the previous counters()
        self._stopped = False
        self._cpu_final = 0.0
        self._stopped_at = 0.0
        self._cpu_start = 0.0
        self._serving_since = 0.0
        self.host = config.host
        self.port = 0
        self.started = 0.0  # monotonic instant outage windows count from

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> SinkServer:
        if self._backend is not None:
            return self
        started = self.started = time.monotonic()
        config = self.config
        if config.record_path is not None:
            for stale in config.record_path.parent.glob(f"{config.record_path.name}.part*"):
                stale.unlink()
        backend: ThreadBackend | ProcessBackend
        if config.processes > 1 and config.port:
            _refuse_a_shared_port(config.host, config.port)
        if config.in_child_processes:
            backend = ProcessBackend(config, started=started, tls=self.tls)
        else:
            backend = ThreadBackend(config, started=started, tls=self.tls)
        self._backend = backend
        self.port = backend.port
        # CPU counts from here: a child's imports and start-up are not serving.
        self._cpu_start = backend.cpu_seconds()
        self._serving_since = time.monotonic()
        self._cpu_mark = (self._serving_since, self._cpu_start)
        log.info(
            "SMTP sink listening on %s:%d (%d process(es))", self.host, self.port, config.processes
        )
        return self

    def stop(self) -> SinkCounters:
        """Stop accepting, close connections, collect the last receipts; idempotent."""
        if self._backend is None:
            return SinkCounters(processes=self.config.processes)
        with self._lock:
            if self._backend is not None and not self._stopped:
                self._stopped = True
                cpu_before = self._backend.cpu_seconds()
                new, raw = self._backend.stop()
                self._merge(new, raw)
                self._cpu_final = cpu_before
                # After the stop, cpu_percent is the average over the whole run.
                self._cpu_mark = (self._serving_since, self._cpu_start)
                self._stopped_at = time.monotonic()
                record = self.config.record_path
                if record is not None and self.config.processes > 1:
                    merge_parts(record)
        return self.counters()

    def __enter__(self) -> SinkServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- views -----------------------------------------------------------------------
    def _merge(self, new: list[Receipt], raw: dict[str, int]) -> None:
        seen = self._seen
        for receipt in new:
            if receipt.id:
                if receipt.id in seen:
                    self._duplicates += 1
                else:
                    seen.add(receipt.id)
        if self.config.keep_receipts:
            self._receipts.extend(new)
        if raw:
            self._lag_counts, self._raw = counts_from_counters(raw)

    def _pull(self) -> None:
        backend = self._require()
        if not self._stopped:
            new, raw = backend.snapshot()
            self._merge(new, raw)

    def _require(self) -> Backend:
        if self._backend is None:
            raise RunError("the SMTP sink is not started; use `with SinkServer(config)`")
        return self._backend

    def counters(self) -> SinkCounters:
        with self._lock:
            self._pull()
            backend = self._require()
            now = self._stopped_at if self._stopped else time.monotonic()
            cpu = self._cpu_final if self._stopped else backend.cpu_seconds()
            mark_time, mark_cpu = self._cpu_mark
            percent = 100.0 * (cpu - mark_cpu) / (now - mark_time) if now > mark_time else 0.0
            if not self._stopped:
                self._cpu_mark = (now, cpu)
            raw = RawCounters(**self._raw) if self._raw else RawCounters()
            return SinkCounters(
                **raw.snapshot(),
                duplicates=self._duplicates,
                cpu_percent=max(0.0, percent),
                cpu_seconds=cpu - self._cpu_start,
                processes=self.config.processes,
            )

    def loop_lag(self) -> LoopLag | None:
        """How late the sink's event loop(s) ran a due callback, since it started (its
        stamps can be at most that late); None before any connection (the probe starts
        with the first) or with no sample yet."""
        with self._lock:
            self._pull()
            return LoopLag.from_counts(self._lag_counts)

    def receipts(self) -> list[Receipt]:
        """Every accepted email so far, in the order they were collected."""
        return self.receipts_since(0)

    def receipts_since(self, index: int) -> list[Receipt]:
        """The receipts after the first `index` collected: a progress loop passes the
        count it has seen so far and copies only what is new."""
        if not self.config.keep_receipts:
            raise RunError("this SMTP sink keeps no receipts (keep_receipts=False)")
        if index < 0:
            raise ValueError(f"receipts_since: index must not be negative, got {index}")
        with self._lock:
            self._pull()
            return self._receipts[index:]

    def pids(self) -> list[int]:
        """The processes serving SMTP (this process in thread mode), for CPU sampling."""
        return self._require().pids()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this sink's certificate (TLS modes only)."""
        if self.tls is None:
            raise ConfigError("the sink runs without TLS", what="tls", got=self.config.tls)
        return client_context(self.tls)


def _refuse_a_shared_port(host: str, port: int) -> None:
    """Our processes share one port with SO_REUSEPORT, which would let them join another
    sink's (or any SO_REUSEPORT server's) port and split its traffic: the port must be
    free for a plain bind first."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", what="port"
        ) from exc


def serve(
    config: SinkConfig,
    *,
    on_ready: Callable[[SinkServer], None],
    stop: threading.Event,
    on_tick: Callable[[SinkCounters], None] | None = None,
    tick: float = 1.0,
) -> SinkCounters:
    """Run a sink in the foreground until `stop` is set; for the CLI."""
    with SinkServer(config) as sink:
        on_ready(sink)
        while not stop.wait(tick):
            if on_tick is not None:
                on_tick(sink.counters())
        return sink.stop()
