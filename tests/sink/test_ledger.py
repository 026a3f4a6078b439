from __future__ import annotations

from pathlib import Path

import pytest

from poolbench.errors import ConfigError
from poolbench.sink.headers import receipt_from_content
from poolbench.sink.ledger import ReceiptLog, merge_parts, part_path, read_ledger
from poolbench.sink.receipt import Receipt, Steps, receipt_from_row, receipt_row


def _receipt(content: bytes) -> Receipt:
    return receipt_from_content(content, received_ns=42, mail_from="a@x", rcpt_tos=["b@y"])


def test_json_round_trip_and_read_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = ReceiptLog(path)
    receipts = [
        Receipt(
            id=f"id-{i}",
            intended_ns=i if i % 2 else None,
            started_ns=None,
            received_ns=1000 + i,
            mail_from="a@x",
            rcpt_tos=("b@y", "c@z"),
            size=10 * i,
        )
        for i in range(5)
    ]
    for receipt in receipts:
        ledger.add(receipt)
    assert ledger.take_new() == receipts
    assert ledger.take_new() == []
    ledger.close()
    assert list(read_ledger(path)) == receipts


def test_parts_are_merged_by_receipt_time(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    times = {0: [1, 4, 5], 1: [2, 3, 6]}
    for index, stamps in times.items():
        ledger = ReceiptLog(part_path(path, index))
        for stamp in stamps:
            ledger.add(
                Receipt(
                    id=str(stamp),
                    intended_ns=None,
                    started_ns=None,
                    received_ns=stamp,
                    mail_from="",
                    rcpt_tos=(),
                    size=0,
                )
            )
        ledger.close()
    assert [r.received_ns for r in read_ledger(path)] == [1, 2, 3, 4, 5, 6]
    assert merge_parts(path) == 6
    assert not list(tmp_path.glob("*.part*"))
    assert [r.id for r in read_ledger(path)] == ["1", "2", "3", "4", "5", "6"]


def test_bad_ledger_lines_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1"):
        list(read_ledger(path))
    with pytest.raises(ConfigError, match="no such file"):
        list(read_ledger(tmp_path / "missing.jsonl"))
    with pytest.raises(ConfigError, match="cannot write") as caught:
        ReceiptLog(tmp_path / "no-dir" / "x.jsonl")
    assert caught.value.what == "record_path"


def _steps(base: int) -> Steps:
    return Steps(
        connected_ns=None if base else 1,
        greeting_ns=None if base else 2,
        ready_ns=None if base else 3,
        mail_ns=base + 4,
        mail_reply_ns=base + 5,
        rcpt_ns=base + 6,
        rcpt_reply_ns=base + 7,
        data_ns=base + 8,
        data_reply_ns=base + 9,
        eod_ns=base + 10,
        delay_ns=11,
        handshake_delay_ns=0 if base else 12,
    )


def test_steps_round_trip_through_json_rows_and_the_ledger(tmp_path: Path) -> None:
    receipts = [
        Receipt(
            id=f"s-{i}",
            intended_ns=None,
            started_ns=None,
            received_ns=100 + i,
            mail_from="a@x",
            rcpt_tos=("b@y",),
            size=1,
            steps=_steps(10 * i),
        )
        for i in range(3)
    ]
    for receipt in receipts:
        assert Receipt.from_json(receipt.to_json()) == receipt
        assert receipt_from_row(receipt_row(receipt)) == receipt
    path = tmp_path / "ledger.jsonl"
    ledger = ReceiptLog(path)
    ledger.add(receipts[0])
    ledger.add_many(receipts[1:])
    ledger.close()
    assert list(read_ledger(path)) == receipts
