"""Synthetic sink receipts for the measuring tests (`ReceiptLike`), on a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S


@dataclass(frozen=True, slots=True)
class Rec:
    id: str
    intended_ns: int | None
    received_ns: int
    started_ns: int | None = None
    steps: Any = None
