"""At most a few emails start per event-loop pass; the rest wait their turn, in order.

Why (issue 24): with a fixed SMTP latency, replies come back in bursts, one per worker
that sent in the same burst. Run as they come, every worker of a burst starts its next
email in the same loop pass, and each following step of each email (connect, greeting,
EHLO, envelope, message) then waits for that step of every other email of the burst:
they all finish at the end of the burst's whole work and send together, so the next
replies come back as a burst again (a convoy). Let through a few per pass, an email that
has started runs its steps in short passes and is sent early, and the next replies come
back spread out. Measured at 60 workers x 50 ms, new connection per email: 75% of
workers / latency without the gate, 94% with one start per pass (indicative figures).

A pass is detected with `call_soon`: a callback scheduled during a pass runs in the
next one (asyncio's and uvloop's loops run only the callbacks queued when a pass began).
"""

from __future__ import annotations

import asyncio
from collections import deque


class StartGate:
    """`turn()`: None (start now) or a future to await first; FIFO, `per_pass` per pass."""

    __slots__ = ("_per_pass", "_scheduled", "_used", "_waiters", "passes", "waited")

    def __init__(self, per_pass: int) -> None:
        if per_pass < 1:
            raise ValueError(f"per_pass must be at least 1, not {per_pass}")
        self._per_pass = per_pass
        self._used = 0  # starts let through in this pass
        self._scheduled = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waited = 0  # starts that waited for a later pass
        self.passes = 0  # passes that began with a start let through in the one before

    def turn(self) -> asyncio.Future[None] | None:
        if self._used < self._per_pass and not self._waiters:
            self._used += 1
            self._next_pass_soon()
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.waited += 1
        self._next_pass_soon()
        return waiter

    def _next_pass_soon(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._scheduled = False
        self.passes += 1
        self._used = 0
        waiters = self._waiters
        while waiters and self._used < self._per_pass:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled waiter gives its turn to the next
                waiter.set_result(None)
                self._used += 1
        if self._used:
            self._next_pass_soon()
