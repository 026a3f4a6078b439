"""Accounting by id: exact sets, and every inconsistency reported (never hidden)."""

from __future__ import annotations

from poolbench.run.accounting import Acked, Ledger, RetentionSample, account, retention_dropped


def acked(n: int, *, partition: int = 0, prefix: str = "m") -> list[Acked]:
    return [Acked(id=f"{prefix}{i}", partition=partition, offset=i) for i in range(n)]


def test_a_clean_point_accounts_for_every_id() -> None:
    acc = account(
        Ledger(
            acked=acked(10),
            sink_ids=[f"m{i}" for i in range(8)] + ["m3"],
            dead_letters={"m8": "550 no", "m9": "poison"},
            poison_ids=frozenset({"m9"}),
            retried=4,
            sink_counter_received=9,
        )
    )
    assert (acc.produced, acc.delivered, acc.duplicates, acc.dead_lettered) == (10, 8, 1, 2)
    assert (acc.lost, acc.dropped_by_broker, acc.retried) == (0, 0, 4)
    assert acc.poison == 1
    assert acc.poison_not_dead_lettered == 0
    assert acc.consistent


def test_lost_is_the_set_difference_and_names_the_ids() -> None:
    acc = account(Ledger(acked=acked(5), sink_ids=["m0", "m2"], dead_letters={"m4": "x"}))
    assert acc.lost == 2
    assert acc.lost_ids == ("m1", "m3")


def test_an_id_both_delivered_and_dead_lettered_is_reported() -> None:
    acc = account(Ledger(acked=acked(3), sink_ids=["m0", "m1", "m2"], dead_letters={"m1": "x"}))
    assert any("both delivered and dead-lettered" in text for text in acc.inconsistencies)
    assert acc.lost == 0  # m1 is accounted for, once


def test_an_id_at_the_sink_that_was_never_produced_is_reported_not_counted() -> None:
    acc = account(Ledger(acked=acked(2), sink_ids=["m0", "m1", "stranger"]))
    assert acc.delivered == 2  # the stranger is not a delivery of this point
    assert any("never produced" in text and "stranger" in text for text in acc.inconsistencies)


def test_over_counts_are_reported() -> None:
    twice = [*acked(3), Acked(id="m1", partition=0, offset=7)]
    acc = account(
        Ledger(
            acked=twice,
            sink_ids=["m0", "m1", "m2", ""],
            dead_letters={"ghost": "x"},
            dead_letters_without_id=2,
            sink_counter_received=7,
        )
    )
    text = " | ".join(acc.inconsistencies)
    assert "acknowledged by the broker more than once" in text
    assert "without a poolbench id" in text
    assert "dead letters carry ids this point never produced" in text
    assert "2 dead letters carry no readable id" in text
    assert "the sink counted 7 emails but its ledger holds 4" in text
    assert acc.produced == 3


def test_retention_is_blamed_only_for_offsets_it_removed_before_the_commit() -> None:
    messages = acked(10)
    # The group had committed 4 when the low watermark reached 6: offsets 4 and 5 were
    # removed unconsumed. Offsets 0-3 were removed after the commit: not the broker's doing.
    samples = [RetentionSample(partition=0, low_watermark=6, committed=4)]
    assert retention_dropped(messages, samples) == {"m4", "m5"}
    delivered = [f"m{i}" for i in range(10) if i not in (2, 4, 5)]
    acc = account(Ledger(acked=messages, sink_ids=delivered, retention=samples))
    assert acc.dropped_by_broker == 2
    assert acc.lost == 1  # m2: committed, then lost by the consumer, not by the broker


def test_retention_never_takes_the_blame_for_delivered_ids() -> None:
    messages = acked(4)
    samples = [RetentionSample(partition=0, low_watermark=4, committed=None)]
    acc = account(Ledger(acked=messages, sink_ids=["m0", "m1"], retention=samples))
    assert acc.dropped_by_broker == 2
    assert acc.lost == 0


def test_retention_on_another_partition_does_not_count() -> None:
    samples = [RetentionSample(partition=1, low_watermark=9, committed=0)]
    assert retention_dropped(acked(5, partition=0), samples) == set()


def test_poison_that_was_delivered_instead_of_dead_lettered_is_reported() -> None:
    acc = account(Ledger(acked=acked(2), sink_ids=["m0", "m1"], poison_ids=frozenset({"m1"})))
    assert acc.poison_not_dead_lettered == 1


def test_missing_emails_below_the_final_commit_are_lost_above_it_undelivered() -> None:
    """Commit on submit, then SIGKILL: m2-m4 were committed and never sent (lost); m5-m9
    were never committed and are still in Kafka (undelivered, not lost)."""
    messages = acked(10)
    acc = account(Ledger(acked=messages, sink_ids=["m0", "m1"], committed={0: 5}, dead_letters={}))
    assert (acc.lost, acc.undelivered) == (3, 5)
    assert acc.lost_ids == ("m2", "m3", "m4")
    assert acc.undelivered_ids == ("m5", "m6", "m7")


def test_a_group_that_committed_nothing_lost_nothing() -> None:
    acc = account(Ledger(acked=acked(4, partition=1), sink_ids=["m0"], committed={1: None}))
    assert (acc.lost, acc.undelivered) == (0, 3)
    unknown = account(Ledger(acked=acked(4), sink_ids=["m0"]))
    assert (unknown.lost, unknown.undelivered) == (3, 0)
