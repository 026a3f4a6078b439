"""Helpers for the foreign consumers' tests: toolchains, child processes, id accounting."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import pytest
from confluent_kafka import Producer

from poolbench.sink import SinkServer
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS, EmailEvent, EmailMessage, encode_event

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
GO_DIR: Final = REPO_ROOT / "examples" / "go-service"
GO_BINARY: Final = GO_DIR / "bin" / "email-service"
GO_SOURCES: Final = ("workerpool", "messaging", "cmd")
SARAMA_SOURCES: Final = Path("/usr/share/gocode/src/github.com/Shopify/sarama")
KAFKAJS_DIR: Final = REPO_ROOT / "examples" / "kafkajs-consumer"
READY: Final = "consumer ready"


def need(ok: bool, what: str) -> None:
    """Skip without `what`; under CI (CI=true) fail instead, so a missing toolchain shows."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {what}: the foreign-consumer tests cannot run", pytrace=False)
    pytest.skip(what)


def _newest_source(root: Path) -> float:
    files = [p for d in GO_SOURCES for p in (root / d).rglob("*.go")]
    return max(p.stat().st_mtime for p in files)


def go_service_binary() -> Path:
    """The built Go service; built here (offline, ./build.sh) when missing or stale."""
    fresh = GO_BINARY.exists() and GO_BINARY.stat().st_mtime >= _newest_source(GO_DIR)
    if fresh:
        return GO_BINARY
    need(shutil.which("go") is not None, "no `go` on PATH (apt-get install golang-go)")
    need(
        SARAMA_SOURCES.is_dir(),
        f"no sarama sources at {SARAMA_SOURCES} (apt-get install golang-github-shopify-sarama-dev)",
    )
    build = subprocess.run(
        [str(GO_DIR / "build.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    assert build.returncode == 0, f"build.sh failed:\n{build.stdout}\n{build.stderr}"
    return GO_BINARY


def kafkajs_entry() -> Path:
    """The kafkajs consumer's script, once `npm ci` has installed its packages."""
    need(shutil.which("node") is not None, "no `node` on PATH")
    installed = all(
        (KAFKAJS_DIR / "node_modules" / name).is_dir() for name in ("kafkajs", "nodemailer")
    )
    need(installed, f"kafkajs/nodemailer not installed: run `npm ci` in {KAFKAJS_DIR}")
    return KAFKAJS_DIR / "consumer.js"


class ConsumerProcess:
    """A foreign consumer in its own process group, its output in a file; always stopped."""

    def __init__(
        self, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=REPO_ROOT,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float, *, count: int = 1) -> None:
        """Wait until `pattern` occurs `count` times in the output (fails if it exits first)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while len(regex.findall(self.output())) < count:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.argv[0]} exited with {self.proc.returncode} before /{pattern}/:\n"
                    f"{self.output()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no /{pattern}/ within {timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs."""
        if self.proc.poll() is None:
            _kill_group(self.proc.pid)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the exit code; SIGKILL past `timeout`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.argv[0]} did not stop within {timeout}s:\n{self.output()[-3000:]}"
            ) from None

    def close(self) -> None:
        self.kill()
        self._log.close()

    def __enter__(self) -> ConsumerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _kill_group(pid: int) -> None:
    # The leader may have exited while its group lives on, or the group may be gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def event_value(event_id: str) -> bytes:
    return encode_event(
        EmailEvent(
            type="welcome",
            message=EmailMessage(
                id=event_id,
                sender="shop@example.com",
                to="ana@example.org",
                subject=f"Welcome {event_id}",
                data={"name": "Ana", "code": "1234"},
            ),
        )
    )


def produce(bootstrap: str, topic: str, ids: Iterable[str], *, compression: str) -> None:
    """Produce one event per id with poolbench's headers and the given compression.type."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": compression}
    )
    for event_id in ids:
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_ID, event_id.encode()),
            (HEADER_INTENDED_NS, str(time.monotonic_ns()).encode()),  # poolbench's clock
        ]
        producer.produce(topic, value=event_value(event_id), key=event_id.encode(), headers=headers)
        producer.poll(0)
    assert producer.flush(15) == 0, "the producer did not deliver everything"


def delivered_ids(sink: SinkServer) -> set[str]:
    return {r.id for r in sink.receipts()}


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    process: ConsumerProcess | None = None,
) -> None:
    """Poll `predicate`; on timeout, fail with the tail of `process`'s output."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = f":\n{process.output()[-3000:]}" if process is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
        time.sleep(0.1)
