"""Where a sink's SMTP engines run: a thread of the caller or spawned child processes.

`ThreadBackend` runs one server (`_Core`: the listening socket, the ledger flusher and
the idle sweeper) on an event loop in a daemon thread; `ProcessBackend` spawns
`processes` children sharing one port (SO_REUSEPORT) and asks each, over a pipe, for the
receipts and counters it has gathered since the previous call. `SinkServer` picks one and
merges what they return.

Why one module of ~420 lines: the two backends implement one `Backend` protocol around
one `_Core`, and what a child process does is read beside what its parent asks of it.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from poolbench.errors import ConfigError, RunError
from poolbench.sink.config import SinkConfig
from poolbench.sink.engine_fast import FastShared, FastSMTP, sweep_idle
from poolbench.sink.handler import SinkSMTP
from poolbench.sink.ledger import ReceiptLog, part_path
from poolbench.sink.receipt import Receipt, ReceiptRow, receipt_from_row
from poolbench.sink.state import SinkState
from poolbench.sink.tls import TlsMaterial, server_context

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds a child may take to import and listen (spawn, busy machine)
STOP_TIMEOUT = 10.0
_FLUSH_EVERY = 0.5  # seconds between ledger file flushes
_BACKLOG = 4096  # 1000 senders connecting at once must not overflow the accept queue


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
        self.ledger = ReceiptLog(record_path)
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
                f"cannot listen on {self.config.host}:{port}: {exc.strerror or exc}", what="port"
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


class Backend(Protocol):
    def pids(self) -> list[int]: ...
    def snapshot(self) -> tuple[list[Receipt], dict[str, int]]: ...
    def cpu_seconds(self) -> float: ...
    def stop(self) -> tuple[list[Receipt], dict[str, int]]: ...


class ThreadBackend:
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


class ProcessBackend:
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
        code = f"from poolbench.sink.backends import _child_entry; _child_entry({child.fileno()})"
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
            receipts.extend(receipt_from_row(row) for row in rows)
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
