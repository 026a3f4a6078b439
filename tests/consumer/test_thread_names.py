"""The consumer names its Kafka poll thread for the kernel, so the harness can split its
CPU by thread (the event loop runs in the main thread)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from poolbench.consumer.poller import POLL_THREAD_NAME, name_os_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _comm(tid: int) -> str:
    return Path(f"/proc/self/task/{tid}/comm").read_text().strip()


def test_a_thread_names_itself_for_the_kernel_and_no_other_thread_changes() -> None:
    seen: list[tuple[int, str]] = []
    main_before = _comm(threading.get_native_id())

    def poll() -> None:
        name_os_thread(POLL_THREAD_NAME)
        seen.append((threading.get_native_id(), _comm(threading.get_native_id())))

    thread = threading.Thread(target=poll)
    thread.start()
    thread.join()
    ((_tid, name),) = seen
    assert name == POLL_THREAD_NAME
    assert _comm(threading.get_native_id()) == main_before


def test_a_long_name_is_cut_to_the_kernel_s_15_bytes() -> None:
    names: list[str] = []

    def run() -> None:
        name_os_thread("a-name-longer-than-fifteen")
        names.append(_comm(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert names == ["a-name-longer-t"]
