"""An async iterator over a pool's results that never makes a worker wait.

Each stream keeps the results it has not handed out yet in a deque of at most `maxlen`
entries. When its reader falls that far behind, the oldest unread result is dropped and
counted in `dropped`: results are observations, and a worker must never block on them
(the seed's Go pool stalls once `buffer` results are unread).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from poolbench.errors import ConfigError
from poolbench.pool.job import Result


class ResultStream:
    """Results delivered after the stream was created, in completion order."""

    __slots__ = ("_closed", "_detach", "_pending", "_waiter", "dropped", "maxlen")

    def __init__(self, maxlen: int, detach: Callable[[ResultStream], None]) -> None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ConfigError(f"results maxlen must be at least 1, got {maxlen!r}")
        self.maxlen = maxlen
        self.dropped = 0
        self._pending: deque[Result] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._detach = detach

    def push(self, result: Result) -> None:
        """Called by the pool for every result; never blocks."""
        if len(self._pending) >= self.maxlen:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(result)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def end(self) -> None:
        """The pool stopped: the reader gets what is pending, then the iteration ends."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Stop receiving results (the reader lost interest); pending ones are discarded."""
        self._pending.clear()
        self.end()
        self._detach(self)

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> Result:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._pending.popleft()
