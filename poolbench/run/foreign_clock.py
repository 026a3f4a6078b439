"""Stamps a foreign consumer made on the wall clock, put on poolbench's (pure).

poolbench's stamps are CLOCK_MONOTONIC (`poolbench.metrics.clock.stamp_ns`); the README's
`consumer.command` contract asks a consumer to stamp `X-Poolbench-Started-Ns` on the
same clock. One that stamps wall time anyway (`time.time_ns()`, `Date.now()`,
`time.Now().UnixNano()`) would give service times of about 56 years. Such stamps are
obvious by their magnitude (`on_wall_clock`), so they are converted with a (wall,
monotonic) pair of this host, and a warning says so: a wall-clock step during the run
would still shift them, which only the consumer can avoid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from poolbench.metrics.clock import ClockPair, on_wall_clock

_FIELDS = (("started_ns", "X-Poolbench-Started-Ns"), ("intended_ns", "X-Poolbench-Intended-Ns"))


def on_our_clock(receipts: list[Any], pair: ClockPair, notes: list[str]) -> list[Any]:
    """`receipts` with every wall-clock started or intended stamp converted to
    CLOCK_MONOTONIC with `pair`; one note per header that needed it."""
    counts = {name: 0 for name, _header in _FIELDS}
    out = []
    for receipt in receipts:
        changes = {}
        for name, _header in _FIELDS:
            value = getattr(receipt, name)
            if value is not None and on_wall_clock(value):
                changes[name] = pair.to_monotonic(value)
                counts[name] += 1
        out.append(dataclasses.replace(receipt, **changes) if changes else receipt)
    for name, header in _FIELDS:
        if counts[name]:
            notes.append(
                f"consumer: {counts[name]} of {len(receipts)} emails carry {header} in wall-clock "
                "ns (since the epoch), not CLOCK_MONOTONIC as poolbench stamps: converted "
                "with this host's clock pair, so a wall-clock step during the run shifts "
                "them (stamp with clock_gettime(CLOCK_MONOTONIC), see the README's "
                "consumer.command)"
            )
    return out
