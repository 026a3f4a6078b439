"""The sink's count of acceptances against its ledger: two independent counts.

Each engine counts the 250 replies to DATA it writes to the wire; the ledger holds the
receipts it recorded. A receipt lost between the reply and the ledger (injected here)
must show as a disagreement in the point's accounting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from poolbench.run.accounting import Acked, Ledger, account
from poolbench.sink import SinkConfig, SinkServer
from poolbench.sink.engine_fast import FastSMTP
from poolbench.sink.handler import SinkSMTP
from tests.sink.clients import client, message


async def _send(sink: SinkServer, ids: list[str]) -> None:
    smtp = client(sink)
    await smtp.connect()
    for message_id in ids:
        await smtp.sendmail("a@example.com", ["b@example.com"], message(message_id))
    await smtp.quit()


def _accounting(sink: SinkServer, ids: list[str]) -> Any:
    receipts = sink.receipts()
    return account(
        Ledger(
            acked=[Acked(id=i, partition=0, offset=n) for n, i in enumerate(ids)],
            sink_ids=[r.id for r in receipts],
            sink_counter_received=sink.counters().received,
        )
    )


@pytest.fixture(params=["fast", "aiosmtpd"])
def sink(request: pytest.FixtureRequest) -> Any:
    server = SinkServer(SinkConfig(port=0, engine=request.param)).start()
    yield server
    server.stop()


def test_counter_and_ledger_agree_when_nothing_is_lost(sink: SinkServer) -> None:
    ids = [f"id-{n}" for n in range(20)]
    asyncio.run(_send(sink, ids))
    accounting = _accounting(sink, ids)
    assert accounting.delivered == 20
    assert sink.counters().received == 20
    assert accounting.consistent, accounting.inconsistencies


def _lose_one_receipt_in_the_fast_engine(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    real = FastSMTP._record
    dropped: list[bytes] = []

    def lose_the_third(self: FastSMTP, now: int) -> None:
        receipts = self._receipts
        for index, (_tx, content) in enumerate(receipts):
            if b"id-2\r\n" in content and not dropped:
                dropped.append(content)
                del receipts[index]
                break
        real(self, now)

    monkeypatch.setattr(FastSMTP, "_record", lose_the_third)
    return dropped


def _lose_one_receipt_in_aiosmtpd(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    real = SinkSMTP._take_accepted
    dropped: list[bytes] = []

    def lose_the_third(self: SinkSMTP) -> Any:
        accepted = real(self)
        if accepted is not None and b"id-2\r\n" in accepted[0] and not dropped:
            dropped.append(accepted[0])
            return None
        return accepted

    monkeypatch.setattr(SinkSMTP, "_take_accepted", lose_the_third)
    return dropped


def test_a_receipt_lost_after_its_reply_is_reported(
    sink: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sink.config.engine == "fast":
        dropped = _lose_one_receipt_in_the_fast_engine(monkeypatch)
    else:
        dropped = _lose_one_receipt_in_aiosmtpd(monkeypatch)
    ids = [f"id-{n}" for n in range(10)]
    asyncio.run(_send(sink, ids))  # the client saw ten acceptances
    assert dropped
    accounting = _accounting(sink, ids)
    assert sink.counters().received == 10
    assert not accounting.consistent
    assert "the sink counted 10 emails but its ledger holds 9" in accounting.inconsistencies
