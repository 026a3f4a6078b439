"""A receipt: one accepted email, its SMTP steps, and its row form.

`Receipt` is the one definition of what the sink records per email; `ReceiptRow` is the
same as a plain tuple (what a sink process keeps and pipes to its parent). The JSON line
(`Receipt.to_json`) is what the ledger file holds (`poolbench.sink.ledger`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Steps:
    """When each step of one email's SMTP exchange happened at the sink (`stamp_ns`).

    "Written" means handed to the transport (the kernel send follows at once unless the
    socket is full). The connection's three stamps are set only on the transaction begun
    by the connection's first MAIL. With implicit TLS, `connected_ns` is when the TLS
    handshake completed: that is when either engine learns of the connection.
    """

    connected_ns: int | None  # TCP connection accepted
    greeting_ns: int | None  # 220 written
    ready_ns: int | None  # last reply written before this MAIL (EHLO, AUTH, ...)
    mail_ns: int  # MAIL line arrived
    mail_reply_ns: int  # its 250 written
    rcpt_ns: int  # first RCPT line arrived
    rcpt_reply_ns: int  # its 250 written
    data_ns: int  # DATA line arrived
    data_reply_ns: int  # 354 written
    eod_ns: int  # the final "." line arrived
    delay_ns: int  # latency the sink injected into MAIL .. end of data (incl. stalls)
    handshake_delay_ns: int  # latency injected into greeting/EHLO/AUTH of this transaction

    def as_tuple(self) -> StepsRow:
        return steps_row(self)

    @classmethod
    def from_tuple(cls, row: StepsRow) -> Steps:
        return cls(**dict(zip(STEP_FIELDS, row, strict=True)))  # type: ignore[arg-type]


StepsRow = tuple[int | None, int | None, int | None, int, int, int, int, int, int, int, int, int]
STEP_FIELDS = tuple(f.name for f in fields(Steps))
# The `StepsRow` of anything with the `Steps` attributes (a C-level getter: per email).
steps_row: Callable[[object], StepsRow] = operator.attrgetter(*STEP_FIELDS)


class Stamps:
    """The stamps of one transaction in progress, as `Steps` names them; both engines
    fill one per MAIL and turn it into a `StepsRow` at the end of DATA."""

    __slots__ = STEP_FIELDS

    def __init__(self, mail_ns: int) -> None:
        self.connected_ns: int | None = None
        self.greeting_ns: int | None = None
        self.ready_ns: int | None = None
        self.mail_ns = mail_ns
        self.mail_reply_ns = 0
        self.rcpt_ns = 0
        self.rcpt_reply_ns = 0
        self.data_ns = 0
        self.data_reply_ns = 0
        self.eod_ns = 0
        self.delay_ns = 0
        self.handshake_delay_ns = 0

    def steps_row(self) -> StepsRow:
        return steps_row(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """One accepted email. Times are CLOCK_MONOTONIC nanoseconds
    (`poolbench.metrics.clock.stamp_ns`), the clock the load generator and the consumer
    stamp with; in a ledger whose manifest predates format 2 (`poolbench.merge.manifest`),
    wall-clock nanoseconds."""

    id: str  # X-Poolbench-Id, else a UUID found in the subject or body, else ""
    intended_ns: int | None  # X-Poolbench-Intended-Ns
    started_ns: int | None  # X-Poolbench-Started-Ns
    received_ns: int  # when the sink wrote its 250 to the end of data
    mail_from: str
    rcpt_tos: tuple[str, ...]
    size: int  # bytes of the message content
    steps: Steps | None = None  # per-step stamps; None in ledgers written before them

    def to_json(self) -> str:
        # Built by hand, not with asdict(): this runs per email when --record is on.
        doc: dict[str, Any] = {
            "id": self.id,
            "intended_ns": self.intended_ns,
            "started_ns": self.started_ns,
            "received_ns": self.received_ns,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "size": self.size,
        }
        if self.steps is not None:
            doc["steps"] = dict(zip(STEP_FIELDS, self.steps.as_tuple(), strict=True))
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Receipt:
        doc = json.loads(line)
        if not isinstance(doc, dict) or not _REQUIRED_FIELDS <= set(doc) <= _RECEIPT_FIELDS:
            raise ValueError(f"not a receipt: {line[:200]!r}")
        doc["rcpt_tos"] = tuple(doc["rcpt_tos"])
        steps = doc.get("steps")
        if steps is not None:
            if not isinstance(steps, dict) or set(steps) != set(STEP_FIELDS):
                raise ValueError(f"not a receipt's steps: {line[:200]!r}")
            doc["steps"] = Steps(**steps)
        return cls(**doc)


_RECEIPT_FIELDS = frozenset(f.name for f in fields(Receipt))
_REQUIRED_FIELDS = _RECEIPT_FIELDS - {"steps"}

# A receipt as a plain tuple: what a sink process keeps and pipes to its parent (cheaper
# to build and to pickle than the dataclasses, which are made once, where they are read).
ReceiptRow = tuple[str, int | None, int | None, int, str, tuple[str, ...], int, StepsRow | None]


def receipt_row(r: Receipt) -> ReceiptRow:
    steps = None if r.steps is None else r.steps.as_tuple()
    return (
        r.id,
        r.intended_ns,
        r.started_ns,
        r.received_ns,
        r.mail_from,
        r.rcpt_tos,
        r.size,
        steps,
    )


def receipt_from_row(row: ReceiptRow) -> Receipt:
    return Receipt(
        id=row[0],
        intended_ns=row[1],
        started_ns=row[2],
        received_ns=row[3],
        mail_from=row[4],
        rcpt_tos=row[5],
        size=row[6],
        steps=None if row[7] is None else Steps.from_tuple(row[7]),
    )
