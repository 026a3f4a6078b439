"""At most a few emails start per event-loop pass; the rest wait their turn, in order.

Why (issue 24): with a fixed SMTP latency, replies come back in bursts, one per worker
that sent in the same burst. Run as they come, every worker of a burst starts its next
email in the same loop pass, and each following step of each email (connect, greeting,
EHLO, envelope, message) then waits for that step of every other email of the burst:
they all finish at the end of the burst's whole work and send together, so the next
replies come back as a burst again (a convoy). Let through a few per pass, an email that
has started runs its steps in short passes and is sent early, and the next replies come
back spread out. Measured at 60 workers x 50 ms, new connection per email: 75% of
workers / latency without the gate, 94-95% with it (indicative figures; SPREAD below).

A pass is detected with `call_soon`: a callback scheduled during a pass runs in the
next one (asyncio's and uvloop's loops run only the callbacks queued when a pass began).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

# A pass lets through at least 1/SPREAD of the starts waiting: a burst of sixty goes out
# one by one, while a loop that is busy anyway (a thousand workers) is not held to one
# start per (long) pass. Indicative, 5 s points: with `waiting // 8`, 60 workers x 50 ms
# (new connection) read 94-95% and 1,000 workers (kept) 6,253-7,383/s; with one start
# per pass only, 94% and 3,883-6,116/s; without the gate 75-76% and 5,025-7,177/s.
SPREAD: Final = 8


class StartGate:
    """`turn()`: None (start now) or a future to await first; first come, first go.

    A pass lets through `per_pass` starts, or 1/SPREAD of those waiting if that is more.
    """

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
        admit = max(self._per_pass, len(waiters) // SPREAD)
        while waiters and self._used < admit:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled waiter gives its turn to the next
                waiter.set_result(None)
                self._used += 1
        if self._used:
            self._next_pass_soon()
