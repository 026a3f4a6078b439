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

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil

from poolbench.errors import ConfigError, RunError
from poolbench.sink.config import SinkConfig
from poolbench.sink.engine_fast import FastShared, FastSMTP, sweep_idle
from poolbench.sink.handler import SinkSMTP
from poolbench.sink.ledger import (
    Ledger,
    RawCounters,
    Receipt,
    ReceiptRow,
    SinkCounters,
    merge_parts,
    part_path,
    receipt_from_row,
    receipt_row,
)
from poolbench.sink.state import SinkState
from poolbench.sink.tls import TlsMaterial, client_context, make_self_signed, server_context

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds a child may take to import and listen (spawn, busy machine)
STOP_TIMEOUT = 10.0
_FLUSH_EVERY = 0.5  # seconds between ledger file flushes
_BACKLOG = 4096  # 1000 senders connecting at once must not overflow the accept queue

# Kept under their old names: benchmarks and tests use them.
_row = receipt_row
_from_row = receipt_from_row


def new_loop(config: SinkConfig) -> asyncio.AbstractEventLoop:
    """The sink's own event loop: uvloop for the fast engine when installed.

    aiosmtpd keeps asyncio's loop: its STARTTLS drives asyncio's SSL protocol directly.
    """
    if config.engine == "fast":
        try:
            import uvloop  # noqa: PLC0415 (optional: imported only where it is used)
        except ImportError:  # optional at run time; asyncio's loop works, only slower
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 warns about its own deprecated `login_data` on every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd() -> None:
    # aiosmtpd logs every command at INFO; keep that out of a run unless asked for.
    mail_log = logging.getLogger("mail.log")
    if mail_log.level == logging.NOTSET:
        mail_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _DropLoginDataWarning) for f in mail_log.filters):
        mail_log.addFilter(_DropLoginDataWarning())


class _Core:
    """One event loop's SMTP server; used by the thread backend and by each child."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        index: int,
        started: float,
        tls: TlsMaterial | None,
        record_path: Path | None,
    ) -> None:
        self.config = config
        self.ledger = Ledger(record_path)
        self.state = SinkState(config, index=index, ledger=self.ledger, started=started)
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, port: int) -> int:
        _quiet_aiosmtpd()
        context = None if self._tls is None else server_context(self._tls)
        starttls_context = context if self.config.tls == "starttls" else None
        implicit: ssl.SSLContext | None = context if self.config.tls == "implicit" else None
        loop = asyncio.get_running_loop()
        factory: Callable[[], asyncio.BaseProtocol]
        if self.config.engine == "fast":
            shared = FastShared(self.state, starttls_context)
            factory = lambda: FastSMTP(shared)  # noqa: E731
            self._sweep()
        else:
            factory = lambda: SinkSMTP(self.state, starttls_context)  # noqa: E731
        try:
            self._server = await loop.create_server(
                factory,
                host=self.config.host,
                port=port,
                ssl=implicit,
                reuse_port=self.config.processes > 1 or None,
                backlog=_BACKLOG,
            )
        except OSError as exc:
            raise ConfigError(
                f"--host/--port: cannot listen on {self.config.host}:{port}: {exc}"
            ) from exc
        self._flusher = asyncio.create_task(self._flush_forever())
        real_port: int = self._server.sockets[0].getsockname()[1]
        return real_port

    def _sweep(self) -> None:
        """Every quarter of the idle timeout, close the connections idle past it."""
        timeout = self.config.timeout
        sweep_idle(self.state, int(timeout * 1e9))
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(max(0.05, timeout / 4), self._sweep)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY)
            self.ledger.flush()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.state.connections):
            connection.close_connection()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self.ledger.close()

    def snapshot(self) -> tuple[list[Receipt], dict[str, int]]:
        return self.ledger.take_new(), self.state.counters.snapshot()

    def snapshot_rows(self) -> tuple[list[ReceiptRow], dict[str, int]]:
        return self.ledger.take_new_rows(), self.state.counters.snapshot()


class _Backend(Protocol):
    def pids(self) -> list[int]: ...
    def snapshot(self) -> tuple[list[Receipt], dict[str, int]]: ...
    def cpu_seconds(self) -> float: ...
    def stop(self) -> tuple[list[Receipt], dict[str, int]]: ...


class _ThreadBackend:
    """The server in a daemon thread of this process."""

    def __init__(self, config: SinkConfig, *, started: float, tls: TlsMaterial | None) -> None:
        self._core = _Core(
            config, index=0, started=started, tls=tls, record_path=config.record_path
        )
        self._loop = new_loop(config)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._native_id: int | None = None
        self._final: tuple[list[Receipt], dict[str, int]] | None = None
        self.port = 0
        self._thread = threading.Thread(
            target=self._run, args=(config.port,), name="poolbench-sink", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RunError("the SMTP sink thread did not start in time")
        error: BaseException | None = self._error
        if error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise error

    def _run(self, port: int) -> None:
        self._native_id = threading.get_native_id()
        asyncio.set_event_loop(self._loop)
        try:
            try:
                self.port = self._loop.run_until_complete(self._core.start(port))
            except BaseException as exc:
                self._error = exc
                self._core.ledger.close()
                return
            finally:
                self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._core.stop())
        finally:
            self._loop.close()

    def pids(self) -> list[int]:
        return [os.getpid()]

    def snapshot(self) -> tuple[list[Receipt], dict[str, int]]:
        if self._final is not None:
            return [], self._final[1]
        return self._core.snapshot()

    def cpu_seconds(self) -> float:
        for thread in psutil.Process().threads():
            if thread.id == self._native_id:
                return float(thread.user_time + thread.system_time)
        return 0.0

    def stop(self) -> tuple[list[Receipt], dict[str, int]]:
        if self._final is None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(STOP_TIMEOUT)
            self._final = self._core.snapshot()
        return self._final


@dataclass(frozen=True, slots=True, kw_only=True)
class _ChildSpec:
    """What one child process needs to start (pickled to it by `spawn`)."""

    config: SinkConfig
    index: int
    port: int
    started: float
    tls: TlsMaterial | None
    record_path: Path | None


def _child_entry(fd: int) -> None:
    """A child process: read its spec from the pipe, serve until the parent says stop."""
    # Ctrl-C reaches the whole process group; only the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    conn = multiprocessing.connection.Connection(fd)
    spec: _ChildSpec = conn.recv()
    with asyncio.Runner(loop_factory=lambda: new_loop(spec.config)) as runner:
        runner.run(_child_serve(spec, conn))


async def _child_serve(spec: _ChildSpec, conn: multiprocessing.connection.Connection) -> None:
    try:
        core = _Core(
            spec.config,
            index=spec.index,
            started=spec.started,
            tls=spec.tls,
            record_path=spec.record_path,
        )
        real_port = await core.start(spec.port)
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", exc))
        return
    conn.send(("ready", real_port))
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def on_command() -> None:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            command = "stop"  # the parent is gone
        if command == "snapshot":
            conn.send(core.snapshot_rows())
        elif command == "stop" and not done.done():
            loop.remove_reader(conn.fileno())
            done.set_result(None)

    loop.add_reader(conn.fileno(), on_command)
    # uvloop makes a watched fd non-blocking; the replies (maybe megabytes of receipts)
    # are sent whole, so keep the pipe blocking.
    os.set_blocking(conn.fileno(), True)
    await done
    await core.stop()
    rows = core.snapshot_rows()
    with contextlib.suppress(OSError):
        conn.send(rows)


class _ProcessBackend:
    """`config.processes` children sharing one port (SO_REUSEPORT).

    Children are plain `python -c` subprocesses talking over a socket pair, not
    `multiprocessing` workers: spawn would re-import the caller's main module, which a
    library cannot require to be guarded.
    """

    def __init__(self, config: SinkConfig, *, started: float, tls: TlsMaterial | None) -> None:
        self._children: list[
            tuple[subprocess.Popen[bytes], multiprocessing.connection.Connection]
        ] = []
        self._final: tuple[list[Receipt], dict[str, int]] | None = None
        self.port = config.port
        try:
            for index in range(config.processes):
                record = config.record_path
                if record is not None and config.processes > 1:
                    record = part_path(record, index)
                spec = _ChildSpec(
                    config=config,
                    index=index,
                    port=self.port,
                    started=started,
                    tls=tls,
                    record_path=record,
                )
                self.port = self._spawn(spec)
        except BaseException:
            self.stop()
            raise
        self._procs = [psutil.Process(p.pid) for p, _ in self._children]

    def _spawn(self, spec: _ChildSpec) -> int:
        index = spec.index
        parent, child = multiprocessing.Pipe(duplex=True)
        # The child must import this very copy of poolbench, whatever the caller's path.
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        code = f"from poolbench.sink.server import _child_entry; _child_entry({child.fileno()})"
        process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(child.fileno(),), env=env, close_fds=True
        )
        child.close()
        self._children.append((process, parent))
        parent.send(spec)
        if not parent.poll(START_TIMEOUT):
            raise RunError(f"SMTP sink process {index} did not start within {START_TIMEOUT:g}s")
        try:
            kind, value = parent.recv()
        except EOFError as exc:
            raise RunError(f"SMTP sink process {index} died while starting") from exc
        if kind == "error":
            raise value
        return int(value)

    def _check_alive(self) -> None:
        """A child that exited took its counters and unread receipts with it: say so."""
        for index, (process, _) in enumerate(self._children):
            code = process.poll()
            if code is not None:
                raise RunError(f"SMTP sink process {index} exited with code {code}")

    def _ask_all(self, command: str) -> tuple[list[Receipt], dict[str, int]]:
        receipts: list[Receipt] = []
        totals: dict[str, int] = {}
        live = [(i, p, c) for i, (p, c) in enumerate(self._children) if p.poll() is None]
        for index, process, conn in live:
            try:
                conn.send(command)
            except OSError as exc:  # it died since poll(): a broken pipe
                raise RunError(
                    f"SMTP sink process {index} exited with code {process.wait(STOP_TIMEOUT)}"
                ) from exc
        for index, process, conn in live:
            try:
                if not conn.poll(STOP_TIMEOUT):
                    raise RunError(f"SMTP sink process {index} stopped answering")
                rows, counters = conn.recv()
            except (EOFError, OSError) as exc:  # a reset pipe too: it died meanwhile
                raise RunError(
                    f"SMTP sink process {index} exited with code {process.wait(STOP_TIMEOUT)}"
                ) from exc
            receipts.extend(_from_row(row) for row in rows)
            for key, value in counters.items():
                totals[key] = totals.get(key, 0) + value
        return receipts, totals

    def pids(self) -> list[int]:
        return [process.pid for process, _ in self._children]

    def snapshot(self) -> tuple[list[Receipt], dict[str, int]]:
        if self._final is not None:
            return [], self._final[1]
        self._check_alive()
        return self._ask_all("snapshot")

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> tuple[list[Receipt], dict[str, int]]:
        if self._final is not None:
            return self._final
        final: tuple[list[Receipt], dict[str, int]] = ([], {})
        try:
            self._check_alive()
        except RunError as exc:
            log.warning("%s; its counters and unread receipts are lost", exc)
        with contextlib.suppress(RunError, OSError, EOFError):
            final = self._ask_all("stop")
        for process, conn in self._children:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
            conn.close()
        self._final = final
        return final


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
        self._backend: _Backend | None = None
        self._receipts: list[Receipt] = []
        self._seen: set[str] = set()
        self._duplicates = 0
        self._raw: dict[str, int] = {}
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
        backend: _ThreadBackend | _ProcessBackend
        if config.in_child_processes:
            backend = _ProcessBackend(config, started=started, tls=self.tls)
        else:
            backend = _ThreadBackend(config, started=started, tls=self.tls)
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
            self._raw = raw

    def _pull(self) -> None:
        backend = self._require()
        if not self._stopped:
            new, raw = backend.snapshot()
            self._merge(new, raw)

    def _require(self) -> _Backend:
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
            raise ConfigError("--tls: the sink runs without TLS")
        return client_context(self.tls)


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
