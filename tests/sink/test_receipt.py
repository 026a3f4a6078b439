from __future__ import annotations

import pytest

from poolbench.sink.receipt import Receipt


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
