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


def paced(
    rate: float, seconds: float, latency_s: float, *, service_s: float | None = None
) -> list[Rec]:
    """An open schedule at `rate`, each received `latency_s` after its intended time."""
    out = []
    for i in range(round(rate * seconds)):
        intended = T0 + round(i * S / rate)
        received = intended + round(latency_s * S)
        started = None if service_s is None else received - round(service_s * S)
        out.append(Rec(f"m{i}", intended, received, started))
    return out
