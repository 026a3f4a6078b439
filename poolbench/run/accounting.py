"""Accounting by id: where every email of a point went, counted, never inferred.

Each set is built from what was observed, by id:
- produced: the ids the broker acknowledged, with partition and offset (load generator);
- delivered: the ids the sink received (first receipt; further receipts are duplicates);
- dead-lettered: the ids read back from the dead-letter topic, with their reasons;
- dropped by the broker: acknowledged ids whose offset fell below the partition's low
  watermark while the consumer group had not yet committed past it (retention overtook
  the consumer), and that never reached the sink or the dead-letter topic;
- undelivered: acknowledged ids neither delivered, dead-lettered nor dropped, whose offset
  the group had not committed past when the consumers stopped: still in Kafka, and Kafka
  redelivers them to the next consumer. Not lost: the drain was incomplete;
- lost: the rest, a set difference (never a clamped count). With the group's final
  commits known, that is exactly what a Kafka consumer loses: offsets it committed for
  emails it neither delivered nor dead-lettered (commit before send). Without them
  (`Ledger.committed` None), every missing id counts as lost.

What cannot be true is reported, never hidden: an id both delivered and dead-lettered,
an id at the sink or in the dead-letter topic that this point never produced, an id the
broker acknowledged twice, dead letters without an id, a sink whose own counter differs
from its ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

# Ids quoted in an inconsistency message (the counts are always complete).
_EXAMPLES: Final = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Acked:
    """One message the broker acknowledged."""

    id: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionSample:
    """One look at a partition: its low watermark and the group's committed offset."""

    partition: int
    low_watermark: int
    committed: int | None  # None: the group had committed nothing on it yet


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    """Everything observed about a point's emails, by id."""

    acked: Sequence[Acked]
    sink_ids: Sequence[str]  # every receipt's id, in arrival order, repeats included
    dead_letters: Mapping[str, str] = field(default_factory=dict)  # id -> reason (DLQ topic)
    dead_letters_without_id: int = 0
    retention: Sequence[RetentionSample] = ()
    poison_ids: frozenset[str] = frozenset()
    retried: int = 0
    sink_counter_received: int | None = None  # the sink's own counter, to cross-check
    # Partition -> the group's committed offset once its consumers stopped (None on a
    # partition: nothing committed there); None: not known, every missing id is lost.
    committed: Mapping[int, int | None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounting:
    produced: int
    delivered: int
    duplicates: int
    retried: int
    dead_lettered: int
    dropped_by_broker: int
    lost: int
    undelivered: int
    poison: int
    poison_not_dead_lettered: int
    lost_ids: tuple[str, ...] = ()  # a few, for the warning
    undelivered_ids: tuple[str, ...] = ()
    inconsistencies: tuple[str, ...] = field(default_factory=tuple)

    @property
    def consistent(self) -> bool:
        return not self.inconsistencies


def _examples(ids: Iterable[str]) -> str:
    chosen = sorted(ids)[:_EXAMPLES]
    return ", ".join(chosen) + (", ..." if len(chosen) == _EXAMPLES else "")


def retention_dropped(acked: Sequence[Acked], samples: Sequence[RetentionSample]) -> set[str]:
    """Ids whose offset retention removed before the group committed past it."""
    # Per partition, the offset ranges [committed, low) seen in any sample.
    ranges: dict[int, list[tuple[int, int]]] = {}
    for s in samples:
        start = s.committed if s.committed is not None else 0
        if s.low_watermark > start:
            ranges.setdefault(s.partition, []).append((start, s.low_watermark))
    if not ranges:
        return set()
    return {
        a.id for a in acked if any(lo <= a.offset < hi for lo, hi in ranges.get(a.partition, ()))
    }


def _uncommitted(
    acked: Sequence[Acked], missing: set[str], committed: Mapping[int, int | None] | None
) -> set[str]:
    """The missing ids at or above their partition's final commit: still in Kafka."""
    if committed is None or not missing:
        return set()
    out = set()
    for a in acked:
        if a.id in missing:
            mark = committed.get(a.partition)
            if mark is None or a.offset >= mark:
                out.add(a.id)
    return out


def account(ledger: Ledger) -> Accounting:
    """The point's accounting, exact by id, with every inconsistency named."""
    problems: list[str] = []
    produced: set[str] = set()
    acked_twice: set[str] = set()
    for a in ledger.acked:
        if a.id in produced:
            acked_twice.add(a.id)
        produced.add(a.id)
    if acked_twice:
        problems.append(
            f"{len(acked_twice)} ids were acknowledged by the broker more than once "
            f"({_examples(acked_twice)})"
        )

    at_sink: set[str] = set()
    duplicates = 0
    unidentified = 0
    for sid in ledger.sink_ids:
        if not sid:
            unidentified += 1
        elif sid in at_sink:
            duplicates += 1
        else:
            at_sink.add(sid)
    foreign_at_sink = at_sink - produced
    if foreign_at_sink:
        problems.append(
            f"{len(foreign_at_sink)} ids reached the sink that this point never produced "
            f"({_examples(foreign_at_sink)})"
        )
    if unidentified:
        problems.append(f"{unidentified} emails reached the sink without a poolbench id")
    if ledger.sink_counter_received is not None and ledger.sink_counter_received != len(
        ledger.sink_ids
    ):
        problems.append(
            f"the sink counted {ledger.sink_counter_received} emails but its ledger holds "
            f"{len(ledger.sink_ids)}"
        )

    in_dlq = set(ledger.dead_letters)
    foreign_in_dlq = in_dlq - produced
    if foreign_in_dlq:
        problems.append(
            f"{len(foreign_in_dlq)} dead letters carry ids this point never produced "
            f"({_examples(foreign_in_dlq)})"
        )
    if ledger.dead_letters_without_id:
        problems.append(f"{ledger.dead_letters_without_id} dead letters carry no readable id")
    both = (at_sink & in_dlq) & produced
    if both:
        problems.append(
            f"{len(both)} ids were both delivered and dead-lettered ({_examples(both)})"
        )

    delivered = at_sink & produced
    dead_lettered = in_dlq & produced
    dropped = (retention_dropped(ledger.acked, ledger.retention) & produced) - delivered
    dropped -= dead_lettered
    missing = produced - delivered - dead_lettered - dropped
    undelivered = _uncommitted(ledger.acked, missing, ledger.committed)
    lost = missing - undelivered
    poison = ledger.poison_ids & produced
    return Accounting(
        produced=len(produced),
        delivered=len(delivered),
        duplicates=duplicates,
        retried=ledger.retried,
        dead_lettered=len(dead_lettered),
        dropped_by_broker=len(dropped),
        lost=len(lost),
        undelivered=len(undelivered),
        poison=len(poison),
        poison_not_dead_lettered=len(poison - dead_lettered),
        lost_ids=tuple(sorted(lost)[:_EXAMPLES]),
        undelivered_ids=tuple(sorted(undelivered)[:_EXAMPLES]),
        inconsistencies=tuple(problems),
    )
