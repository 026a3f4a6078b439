"""The lag gauge while paused: nothing is fetched, so cached watermarks would freeze."""

from __future__ import annotations

import asyncio
from typing import Any

from poolbench.consumer.poller import KafkaPoller


class _FakeConsumer:
    def __init__(self) -> None:
        self.high = 10
        self.calls: list[dict[str, Any]] = []

    def get_watermark_offsets(self, tp: Any, **kwargs: Any) -> tuple[int, int]:
        self.calls.append(kwargs)
        # The client's cache stays where the last fetch left it; the broker moves on.
        return (0, 10 if kwargs.get("cached") else self.high)


def _poller() -> KafkaPoller:
    loop = asyncio.new_event_loop()
    try:
        poller = KafkaPoller({"group.id": "g"}, "t", handler=None, loop=loop, batch_size=16)  # type: ignore[arg-type]
    finally:
        loop.close()
    poller._assigned.update({("t", 0)})
    return poller


def test_paused_watermarks_come_from_the_broker() -> None:
    poller = _poller()
    consumer = _FakeConsumer()
    poller._refresh_watermarks(consumer)  # type: ignore[arg-type]
    assert consumer.calls[-1] == {"cached": True}
    poller._paused = True
    consumer.high = 500  # the producer keeps writing during an outage
    poller._refresh_watermarks(consumer)  # type: ignore[arg-type]
    assert consumer.calls[-1].get("cached") is not True
    assert poller.high_watermarks == {("t", 0): 500}
