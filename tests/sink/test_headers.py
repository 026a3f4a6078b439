from __future__ import annotations

import base64

import pytest

from poolbench.sink.headers import receipt_from_content
from poolbench.sink.receipt import Receipt

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
