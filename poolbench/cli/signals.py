"""Ctrl-C, SIGTERM and SIGHUP -> a stop event, for the foreground subcommands.

A hang-up (the SSH session that ran `poolbench run` dropped) stops like Ctrl-C: the
parts are stopped and what was measured is written.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(
    *, message: str | None = None, second_interrupt_raises: bool = False
) -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP while the block runs; the previous handlers are
    restored on exit, so a second Ctrl-C after it behaves as usual.

    `message` is printed on stderr at the first signal. With `second_interrupt_raises`, a
    second Ctrl-C inside the block raises KeyboardInterrupt: the way out of a clean stop
    that takes too long, while the block's own cleanup still runs.
    """
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if second_interrupt_raises and stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("signal %d: stopping", signum)
        stop.set()
        if message is not None:
            print(message, file=sys.stderr, flush=True)

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
