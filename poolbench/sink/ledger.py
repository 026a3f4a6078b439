"""The ledger: one `Receipt` per accepted email, the counters, and the JSON-lines file.

Reading the poolbench headers is on the per-email path, so it scans the raw header block
instead of building an `email.message` (that is reserved for the fallback that looks for
a message id in the subject or body of a foreign consumer's email).

Why one module of ~420 lines: a receipt's one definition — its steps, its row form (what
a sink process sends its parent), its JSON line and the ledger file that holds those
lines — changes together, so it is read in one place.
"""

from __future__ import annotations

import email
import email.policy
import heapq
import json
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

from poolbench.errors import ConfigError
from poolbench.wire import EMAIL_HEADER_ID, EMAIL_HEADER_INTENDED_NS, EMAIL_HEADER_STARTED_NS

_ID_KEY = b"\n" + EMAIL_HEADER_ID.lower().encode() + b":"
_INTENDED_KEY = b"\n" + EMAIL_HEADER_INTENDED_NS.lower().encode() + b":"
_STARTED_KEY = b"\n" + EMAIL_HEADER_STARTED_NS.lower().encode() + b":"
_SUBJECT_KEY = b"\nsubject:"
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_TEXT = re.compile(_UUID.pattern.decode())


@dataclass(frozen=True, slots=True, kw_only=True)
class Steps:
    """When each step of one email's SMTP exchange happened at the sink (`time.time_ns`).

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
    """One accepted email. Times are wall-clock nanoseconds (`time.time_ns`)."""

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


def _header_value(lowered: bytes, original: bytes, key: bytes) -> bytes | None:
    at = lowered.find(key)
    if at < 0:
        return None
    start = at + len(key)
    end = original.find(b"\r\n", start)
    if end < 0:
        end = original.find(b"\n", start)
    return original[start : end if end >= 0 else len(original)].strip()


def _int_or_none(value: bytes | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _id_from_subject_or_body(content: bytes, lowered_head: bytes, head: bytes) -> str:
    """The fallback for consumers that drop the X-Poolbench headers: find the message id."""
    # A UUID has dashes: the cheap `in` test spares the regex scan of text without any.
    subject = _header_value(lowered_head, head, _SUBJECT_KEY)
    if subject and b"-" in subject:
        found = _UUID.search(subject)
        if found:
            return found.group().decode()
    body = content[len(head) :]
    found = _UUID.search(body) if b"-" in body else None
    if not found and b"=\r\n" in body:  # quoted-printable soft line breaks
        found = _UUID.search(body.replace(b"=\r\n", b""))
    if found:
        return found.group().decode()
    # Encoded parts (base64, encoded-word subjects): let the email package decode them.
    # Only when there is one: parsing costs ~200 µs, most of a foreign email's cost.
    if b"=?" not in head and b"base64" not in content.lower():
        return ""
    message = email.message_from_bytes(content, policy=email.policy.default)
    texts = [str(message.get("Subject", ""))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    for text in texts:
        match = _UUID_TEXT.search(text)
        if match:
            return match.group()
    return ""


def receipt_from_content(
    content: bytes,
    *,
    received_ns: int,
    mail_from: str,
    rcpt_tos: Iterable[str],
    steps: Steps | None = None,
) -> Receipt:
    """Build the receipt of one email from its raw bytes (headers scanned, not parsed)."""
    message_id, intended_ns, started_ns = content_fields(content)
    return Receipt(
        id=message_id,
        intended_ns=intended_ns,
        started_ns=started_ns,
        received_ns=received_ns,
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        size=len(content),
        steps=steps,
    )


def content_fields(content: bytes) -> tuple[str, int | None, int | None]:
    """The id, intended and started times an email's raw bytes carry."""
    end = content.find(b"\r\n\r\n")
    if end < 0:
        end = content.find(b"\n\n")
    head = content if end < 0 else content[:end]
    lowered = b"\n" + head.lower()
    head = b"\n" + head
    raw_id = _header_value(lowered, head, _ID_KEY)
    message_id = raw_id.decode("utf-8", "replace") if raw_id else ""
    if not message_id:
        message_id = _id_from_subject_or_body(content, lowered, head)
    return (
        message_id,
        _int_or_none(_header_value(lowered, head, _INTENDED_KEY)),
        _int_or_none(_header_value(lowered, head, _STARTED_KEY)),
    )


@dataclass(slots=True, kw_only=True)
class RawCounters:
    """One server's live counts (mutable, owned by its event loop)."""

    received: int = 0
    transient: int = 0
    permanent: int = 0
    dropped: int = 0
    auth: int = 0
    rate_limited: int = 0
    over_capacity: int = 0
    outage: int = 0
    connections_open: int = 0
    connections_total: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


REJECT_KINDS = (
    "transient",
    "permanent",
    "dropped",
    "auth",
    "rate_limited",
    "over_capacity",
    "outage",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkCounters:
    """A live snapshot, merged across the sink's processes.

    `cpu_percent` is the sink's own CPU use since the previous snapshot (100 = one core;
    summed over processes); `cpu_seconds` is its total since start. In-process (thread)
    mode measures the server thread alone (Linux per-thread CPU time via psutil).
    Rejections by kind: `transient` 451 and `permanent` 550 faults, `dropped` cut
    connections, `auth` 535 (bad credentials) and 530 (MAIL without AUTH),
    `rate_limited` 451 at MAIL, `over_capacity` 421 at connect, `outage` 421/451.
    """

    received: int = 0
    duplicates: int = 0
    transient: int = 0
    permanent: int = 0
    dropped: int = 0
    auth: int = 0
    rate_limited: int = 0
    over_capacity: int = 0
    outage: int = 0
    connections_open: int = 0
    connections_total: int = 0
    cpu_percent: float = 0.0
    cpu_seconds: float = 0.0
    processes: int = 1

    @property
    def rejected(self) -> int:
        return sum(getattr(self, kind) for kind in REJECT_KINDS)

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["rejected"] = self.rejected
        return doc


class Ledger:
    """Accepted receipts of one server, drained by the owner; optionally written to a file.

    The event loop appends, another thread drains: one uncontended lock per email.
    """

    def __init__(self, record_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._new: list[ReceiptRow] = []
        self._file: IO[str] | None = None
        if record_path is not None:
            try:
                # Buffered: flushed by flush() on a timer and at close, not per email.
                self._file = open(record_path, "w", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(
                    f"cannot write {record_path}: {exc.strerror or exc}", what="record_path"
                ) from exc

    def add(self, receipt: Receipt) -> None:
        self.add_rows([receipt_row(receipt)])

    def add_many(self, receipts: list[Receipt]) -> None:
        self.add_rows([receipt_row(r) for r in receipts])

    def add_rows(self, rows: list[ReceiptRow]) -> None:
        """Receipts as rows, under one lock (replies flushed together)."""
        with self._lock:
            self._new.extend(rows)
        if self._file is not None:
            self._file.write("".join(receipt_from_row(r).to_json() + "\n" for r in rows))

    def take_new(self) -> list[Receipt]:
        """The receipts added since the previous call."""
        return [receipt_from_row(row) for row in self.take_new_rows()]

    def take_new_rows(self) -> list[ReceiptRow]:
        """The same as rows (what a sink process sends its parent)."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def part_path(record_path: Path, index: int) -> Path:
    """Where process `index` of a multi-process sink writes its share of the ledger."""
    return record_path.with_name(f"{record_path.name}.part{index}")


def _part_paths(record_path: Path) -> list[Path]:
    return sorted(record_path.parent.glob(f"{record_path.name}.part*"))


def _read_one(path: Path) -> Iterator[Receipt]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield Receipt.from_json(line)
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{path}:{number}: not a sink ledger line: {exc}") from exc


def read_ledger(path: str | Path) -> Iterator[Receipt]:
    """Receipts from a `--record` file, or from its per-process parts (merged by time)."""
    path = Path(path)
    if path.exists():
        yield from _read_one(path)
        return
    parts = _part_paths(path)
    if not parts:
        raise ConfigError(f"ledger {path}: no such file")
    yield from heapq.merge(*(_read_one(p) for p in parts), key=lambda r: r.received_ns)


def merge_parts(record_path: Path) -> int:
    """Merge the per-process parts into `record_path` (by receipt time); returns the count."""
    parts = _part_paths(record_path)
    count = 0
    with open(record_path, "w", encoding="utf-8") as out:
        for receipt in heapq.merge(*(_read_one(p) for p in parts), key=lambda r: r.received_ns):
            out.write(receipt.to_json() + "\n")
            count += 1
    for part in parts:
        part.unlink()
    return count
