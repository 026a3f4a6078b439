"""The load generator in a child process of its own (`LoadProcess`).

Apart from the runner, its CPU is measured on its own and its hot loop never waits for
the runner's GIL. The spec crosses once, as a JSON file (`LoadSpec.to_json`); the child is
`poolbench produce --spec-file SPEC --report REPORT [--start-at-ns NS]`. It connects,
prints `ready`, waits for the agreed wall-clock start, runs, and writes the report
(`LoadReport.to_json`) atomically, also when stopped early by SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import TracebackType
from typing import Final

from poolbench.broker.child import Child, poolbench_argv
from poolbench.errors import RunError
from poolbench.loadgen.report import LoadReport
from poolbench.loadgen.spec import LoadSpec

READY_LINE: Final = "ready"
DEFAULT_READY_TIMEOUT_S: Final = 30.0


class LoadProcess:
    """`poolbench produce` on a `LoadSpec`, in a child process; a context manager.

    Started by the constructor. With `start_at_wall_ns`, `wait_ready()` returns once the
    child is connected and waiting for that time. `wait()` for the end, `stop()` to end it
    early (it still flushes and reports), `report()` for the `LoadReport`.
    """

    def __init__(
        self,
        spec: LoadSpec,
        bootstrap_servers: str,
        report_path: Path,
        start_at_wall_ns: int | None = None,
    ) -> None:
        self._report_path = Path(report_path)
        spec_path = self._report_path.with_name(self._report_path.name + ".spec.json")
        spec_path.write_text(spec.to_json() + "\n")
        self._report_path.unlink(missing_ok=True)
        args = [
            "produce",
            "--bootstrap-servers",
            bootstrap_servers,
            "--spec-file",
            str(spec_path),
            "--report",
            str(self._report_path),
        ]
        if start_at_wall_ns is not None:
            args += ["--start-at-ns", str(start_at_wall_ns)]
        self._waits_for_start = start_at_wall_ns is not None
        self._ready = False
        self._child = Child(poolbench_argv(*args))

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.returncode

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT_S) -> None:
        """Block until the child printed `ready` (only with `start_at_wall_ns`).

        `RunError` if it exits or does not get there within `timeout` seconds.
        """
        if not self._waits_for_start:
            raise RuntimeError("wait_ready needs start_at_wall_ns: the child never waits")
        deadline = time.monotonic() + timeout
        while not self._ready:
            line = self._child.read_line(deadline - time.monotonic())
            if line is None:
                exited = self._child.returncode is not None
                raise RunError(
                    "the load generator "
                    + ("exited" if exited else f"was not ready within {timeout:g}s")
                    + f" before connecting: {self._stderr_last()}"
                )
            self._ready = line.strip() == READY_LINE

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (0: every event acknowledged), or None if still running."""
        return self._child.wait(timeout)

    def stop(self, grace_s: float = 60.0) -> int | None:
        """End the run early: SIGTERM, then it flushes and reports within `grace_s`.

        A child that does not finish in time is killed (and then writes no report).
        """
        if self._child.returncode is None:
            self._child.signal(signal.SIGTERM)
        return self._child.stop(grace_s)

    def report(self) -> LoadReport:
        """The child's report, once it has exited; `RunError` if it wrote none."""
        if self._child.returncode is None:
            raise RuntimeError("the load generator is still running: wait() or stop() first")
        try:
            text = self._report_path.read_text()
        except FileNotFoundError:
            raise RunError(
                f"the load generator exited with code {self._child.returncode} without a "
                f"report: {self._stderr_last()}"
            ) from None
        return LoadReport.from_json(text)

    def _stderr_last(self) -> str:
        lines = [line for line in self._child.stderr_tail().splitlines() if line.strip()]
        return lines[-1] if lines else "no output"

    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
