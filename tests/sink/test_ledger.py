from __future__ import annotations

import base64
from pathlib import Path

import pytest

from poolbench.errors import ConfigError
from poolbench.sink.ledger import (
    Ledger,
    RawCounters,
    Receipt,
    SinkCounters,
    Steps,
    merge_parts,
    part_path,
    read_ledger,
    receipt_from_content,
)

UUID = "0b5f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def _receipt(content: bytes) -> Receipt:
    return receipt_from_content(content, received_ns=42, mail_from="a@x", rcpt_tos=["b@y"])


def test_headers_are_read_case_insensitively_and_stop_at_the_body() -> None:
    content = (
        b"From: a@x\r\nx-poolbench-id: abc-1\r\nX-POOLBENCH-INTENDED-NS: 1700\r\n"
        b"X-Poolbench-Started-Ns:  1800 \r\nSubject: hello\r\n\r\n"
        b"X-Poolbench-Id: not-this-one\r\n"
    )
    receipt = _receipt(content)
    assert receipt == Receipt(
        id="abc-1",
        intended_ns=1700,
        started_ns=1800,
        received_ns=42,
        mail_from="a@x",
        rcpt_tos=("b@y",),
        size=len(content),
    )


def test_missing_or_bad_numbers_are_none() -> None:
    receipt = _receipt(b"X-Poolbench-Id: a\r\nX-Poolbench-Intended-Ns: soon\r\n\r\nbody\r\n")
    assert receipt.intended_ns is None
    assert receipt.started_ns is None


@pytest.mark.parametrize(
    "content",
    [
        f"Subject: Reset {UUID}\r\n\r\nhi\r\n".encode(),
        f"Subject: hi\r\n\r\nyour id is {UUID}.\r\n".encode(),
        # quoted-printable soft line break in the middle of the id
        f"Subject: hi\r\n\r\nid {UUID[:20]}=\r\n{UUID[20:]}\r\n".encode(),
        (
            "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(f"Hello, your order {UUID} shipped".encode()).decode()
            + "\r\n"
        ).encode(),
    ],
)
def test_id_falls_back_to_a_uuid_in_subject_or_body(content: bytes) -> None:
    assert _receipt(content).id == UUID


def test_no_id_anywhere_is_empty() -> None:
    assert _receipt(b"Subject: hi\r\n\r\nnothing here\r\n").id == ""


def test_json_round_trip_and_read_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
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
        ledger = Ledger(part_path(path, index))
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
        Ledger(tmp_path / "no-dir" / "x.jsonl")
    assert caught.value.what == "record_path"


def test_every_raw_counter_reaches_the_merged_counters() -> None:
    raw = RawCounters(received=7, dropped=2, outage=1, connections_total=9)
    merged = SinkCounters(**raw.snapshot(), duplicates=1)
    assert {k: v for k, v in merged.as_dict().items() if k in raw.snapshot()} == raw.snapshot()
    assert merged.rejected == 3


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
    from poolbench.sink.ledger import receipt_from_row, receipt_row

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
    ledger = Ledger(path)
    ledger.add(receipts[0])
    ledger.add_many(receipts[1:])
    ledger.close()
    assert list(read_ledger(path)) == receipts


def test_old_ledger_lines_without_steps_still_load() -> None:
    line = (
        '{"id":"old","intended_ns":1,"started_ns":null,"received_ns":5,'
        '"mail_from":"a@x","rcpt_tos":["b@y"],"size":3}'
    )
    receipt = Receipt.from_json(line)
    assert receipt.steps is None
    assert receipt.id == "old"
    with pytest.raises(ValueError, match="steps"):
        Receipt.from_json(line[:-1] + ',"steps":{"mail_ns":1}}')
