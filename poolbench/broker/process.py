"""The embedded broker in a child process of its own (`BrokerProcess`).

In its own process the mock cluster's threads never share the runner's GIL, and its CPU
is measured apart from the load generator's and the runner's. The child is
`poolbench broker --control-stdin`: line 1 of its stdout is the bootstrap servers, then
it answers control requests (`poolbench.broker.control`) and stops on SIGTERM or when its
stdin closes, so it cannot outlive a parent that dies without stopping it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Final

from poolbench.broker.child import Child, poolbench_argv
from poolbench.broker.control import OK, group_request, parse_group_answer, topic_request
from poolbench.broker.topics import TopicSpec
from poolbench.errors import BrokerError, ConfigError

DEFAULT_START_TIMEOUT_S: Final = 30.0
DEFAULT_REQUEST_TIMEOUT_S: Final = 10.0


class BrokerProcess:
    """`poolbench broker` as a child process, as a context manager.

    `bootstrap_servers` and `pid` are valid between `start()` and `stop()`;
    `create_topic` may be called from any thread (requests are serialized).
    """

    def __init__(
        self,
        brokers: int = 1,
        topics: Sequence[TopicSpec] = (),
        *,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        if brokers < 1:
            raise ConfigError("must be at least 1", what="brokers", got=brokers)
        self._brokers = brokers
        self._topics = tuple(topics)
        self._start_timeout_s = start_timeout_s
        self._request_timeout_s = request_timeout_s
        self._child: Child | None = None
        self._bootstrap = ""
        self._lock = threading.Lock()

    @property
    def brokers(self) -> int:
        return self._brokers

    @property
    def bootstrap_servers(self) -> str:
        if self._child is None:
            raise RuntimeError("the broker process is not running")
        return self._bootstrap

    @property
    def pid(self) -> int:
        if self._child is None:
            raise RuntimeError("the broker process is not running")
        return self._child.pid

    def start(self) -> BrokerProcess:
        if self._child is not None:
            return self
        args = ["broker", "--brokers", str(self._brokers), "--control-stdin"]
        for topic in self._topics:
            args += ["--topic", f"{topic.name}:{topic.partitions}"]
        if not self._topics:
            args.append("--no-default-topics")
        child = Child(poolbench_argv(*args), stdin=True)
        try:
            line = child.read_line(self._start_timeout_s)
        except BaseException:
            child.stop()
            raise
        if not line or ":" not in line:
            failure = self._failure(child)
            child.stop()
            raise BrokerError(
                "the broker process did not report its bootstrap servers within "
                f"{self._start_timeout_s:g}s: {failure}"
            )
        self._child, self._bootstrap = child, line.strip()
        return self

    @staticmethod
    def _failure(child: Child) -> str:
        code = child.wait(1.0)
        tail = child.stderr_tail().strip().splitlines()
        last = tail[-1] if tail else "no output"
        return f"exit code {code}, {last}" if code is not None else last

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic in the child's mock cluster; `BrokerError` if it refuses."""
        answer = self._ask(topic_request(name, partitions))
        if answer != OK:
            raise BrokerError(answer.removeprefix("error ").strip())

    def joined_topics(self, group: str) -> frozenset[str] | None:
        """The topics `group`'s members subscribed to when they joined (None: no member
        joined it), as the child's relays saw them."""
        answer = self._ask(group_request(group))
        try:
            return parse_group_answer(answer)
        except ValueError as exc:
            raise BrokerError(str(exc)) from exc

    def _ask(self, request: str) -> str:
        """One request line to the child, its one answer line."""
        with self._lock:
            child = self._child
            if child is None:
                raise RuntimeError("the broker process is not running")
            try:
                child.write_line(request)
            except OSError as exc:
                raise BrokerError(f"the broker process is gone: {self._failure(child)}") from exc
            deadline = time.monotonic() + self._request_timeout_s
            answer = child.read_line(deadline - time.monotonic())
        if answer is None:
            raise BrokerError(
                f"the broker process did not answer {request!r} within "
                f"{self._request_timeout_s:g}s: {self._failure(child)}"
            )
        return answer

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the child and everything it started; harmless when already stopped."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.stop(grace_s)

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
