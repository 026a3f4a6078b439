"""Where each shard's stamps go on the merged timeline (pure).

A shard's stamps are CLOCK_MONOTONIC ns of its host, paired with a wall reading taken
together at its start (a load report's `start_mono_ns`/`start_wall_ns`, a sink
manifest's `clock_pair`); older outputs stamped wall time directly. The merged
timeline is the wall clock with each host's stated offset subtracted:

- a monotonic stamp with a pair: `stamp - monotonic + wall - offset`;
- a wall stamp (an output written before CLOCK_MONOTONIC): `stamp - offset`.

Every placement is a shift (`timeline = stamp - shift`). Monotonic stamps with no pair
(a ledger recorded without `--shard`, so without a manifest) can be placed only beside
other stamps of the same clock: when no input can be put on the wall timeline, the
monotonic stamps are compared as they are, provided the manifests name one host at
most, and the offsets are ignored; otherwise the merge refuses the input, naming it.

The consumers' start stamps carry no pair of their own (their receipts do not say which
consumer sent them): they are placed with their sink's shift when every manifest comes
from one host, and dropped (service and wait times n/a) when the hosts differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from poolbench.merge.clocks import offset_ns
from poolbench.merge.inputs import Inputs, LedgerInput, MergeError
from poolbench.metrics.clock import ClockPair, on_wall_clock


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    loads: Mapping[str, int]  # load id prefix -> shift of its intended times and start
    sinks: tuple[int, ...]  # per ledger (in `Inputs.ledgers` order): shift of its receipts
    keep_started: bool  # whether the consumers' start stamps are placed (with the sink's)
    notes: tuple[str, ...] = ()


def _shift(pair: ClockPair, offset: int) -> int:
    """The shift that puts a monotonic stamp of `pair`'s host on the wall timeline."""
    return pair.monotonic_ns - pair.wall_ns + offset


def _ledger_on_wall(ledger: LedgerInput) -> bool | None:
    """Whether a ledger's receipts are wall stamps (None: it holds no receipt)."""
    if not ledger.receipts:
        return None
    return on_wall_clock(ledger.receipts[0].received_ns)


def _ledger_pair(ledger: LedgerInput) -> ClockPair | None:
    return None if ledger.manifest is None else ledger.manifest.clock_pair


def timeline(inputs: Inputs) -> Timeline:
    """Each input's shift onto one timeline (see the module doc); `MergeError` when a
    monotonic input without a pair must sit beside inputs on the wall timeline."""
    unplaced: list[str] = []
    for ledger in inputs.ledgers:
        if _ledger_pair(ledger) is None and _ledger_on_wall(ledger) is False:
            unplaced.append(str(ledger.path))
    placeable = [item for item in inputs.loads if item.report.stamp_pair is not None] + [
        ledger for ledger in inputs.ledgers if _ledger_pair(ledger) is not None
    ]
    wall_inputs = [item for item in inputs.loads if item.report.stamp_pair is None] + [
        ledger for ledger in inputs.ledgers if _ledger_on_wall(ledger) is True
    ]
    hosts = {m.host for _p, m in inputs.manifests}
    if unplaced and not wall_inputs and len(hosts) <= 1:
        # Every stamp is CLOCK_MONOTONIC, some have no pair, and the manifests name one
        # host at most: that host's clock.
        return Timeline(
            loads={item.report.id_prefix: 0 for item in inputs.loads},
            sinks=tuple(0 for _ in inputs.ledgers),
            keep_started=True,
            notes=(
                "clock: "
                + ", ".join(unplaced)
                + " hold CLOCK_MONOTONIC stamps without a clock pair (no sink manifest): "
                "every stamp is compared on that clock, as on one host; stated offsets "
                "are not applied",
            ),
        )
    if unplaced:
        raise MergeError(
            "its receipts are stamped on its host's CLOCK_MONOTONIC and it has no manifest "
            "with a clock pair (record it with `poolbench sink --shard`), so they cannot be "
            f"put beside {len(placeable) + len(wall_inputs)} input(s) on the wall timeline",
            path=unplaced[0],
        )
    loads = {
        item.report.id_prefix: offset_ns(item.manifest)
        if item.report.stamp_pair is None
        else _shift(item.report.stamp_pair, offset_ns(item.manifest))
        for item in inputs.loads
    }
    sinks = tuple(
        offset_ns(ledger.manifest)
        if (pair := _ledger_pair(ledger)) is None
        else _shift(pair, offset_ns(ledger.manifest))
        for ledger in inputs.ledgers
    )
    monotonic = bool(placeable)
    keep = not monotonic or len(hosts) <= 1
    notes: list[str] = []
    if monotonic:
        notes.append(
            "clock: CLOCK_MONOTONIC stamps put on the wall timeline with each shard's "
            "clock pair (read at its start)"
        )
    if not keep:
        notes.append(
            f"clock: the shards ran on {len(hosts)} hosts ({', '.join(sorted(hosts))}); the "
            "consumers' start stamps are on their own host's CLOCK_MONOTONIC, which no "
            "manifest pairs with the wall clock: service and wait times are n/a"
        )
    return Timeline(loads=loads, sinks=sinks, keep_started=keep, notes=tuple(notes))
