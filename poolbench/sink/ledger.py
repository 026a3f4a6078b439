"""The ledger: the accepted receipts of one server (`ReceiptLog`, drained by its owner) and
the JSON-lines file `--record` writes them to (one line per `Receipt`, per process parts
merged by time)."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from poolbench.errors import ConfigError
from poolbench.sink.receipt import Receipt, ReceiptRow, receipt_from_row, receipt_row


class ReceiptLog:
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
