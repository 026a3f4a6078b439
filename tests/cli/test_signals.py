from __future__ import annotations

import os
import signal
from types import FrameType

import pytest

from poolbench.cli.signals import stop_on_signals


def test_signals_set_the_stop_event_and_previous_handlers_come_back() -> None:
    seen: list[int] = []

    def mine(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)

    before = signal.signal(signal.SIGTERM, mine)
    try:
        with stop_on_signals() as stop:
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.wait(10)
        assert seen == []
        assert signal.getsignal(signal.SIGTERM) is mine
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_handlers_are_restored_when_the_block_fails() -> None:
    before = signal.getsignal(signal.SIGINT)
    empty: dict[str, int] = {}
    with pytest.raises(KeyError), stop_on_signals():
        empty["missing"]
    assert signal.getsignal(signal.SIGINT) is before
