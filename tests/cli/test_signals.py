from __future__ import annotations

import os
import signal
import time
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


def test_a_second_ctrl_c_raises_when_asked_and_the_first_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        stop_on_signals(message="stopping after this point", second_interrupt_raises=True) as stop,
    ):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(10)
        assert capsys.readouterr().err == "stopping after this point\n"
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # the handler raises here at the latest, interrupting the sleep


def test_a_second_signal_only_sets_the_event_again_by_default() -> None:
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(10)
