"""What makes a point's numbers untrue or not the consumer's, as errors and notes. Pure.

- `bound_error`: throughput above min(offered, ideal) by more than a catch-up explains;
- `identity_error`: emails at the sink that none can be matched to what was produced;
- `accounting_errors`: emails still in Kafka (drain incomplete), or dropped by retention;
- `queue_wait_note`: a saturating load's wait is the backlog poolbench keeps.
"""

from __future__ import annotations

import math

from poolbench.run.accounting import Accounting
from poolbench.run.figures import Latencies
from poolbench.run.samples import Window


def bound_error(
    *,
    per_s: float,
    window: Window,
    offered_per_s: float | None,
    ideal_per_s: float | None,
    in_flight: int,
) -> str | None:
    """Throughput above min(offered, ideal) by more than the emails in flight at the
    window's start (a catch-up may deliver those on top) cannot be true: an error naming
    both figures. Slack: 1% (at least 2 emails) for the window's edges; against the ideal,
    at least 3 sqrt(n), as the mean of random sink latencies varies."""
    bounds = [b for b in (offered_per_s, ideal_per_s) if b is not None and b > 0]
    if not bounds:
        return None
    bound = min(bounds)
    name = "offered" if bound == offered_per_s else "ideal"
    expected = bound * window.seconds
    received = per_s * window.seconds
    slack = max(2.0, 0.01 * expected)
    if name == "ideal":  # a mean of random sink latencies varies: 3 sigma of a count
        slack = max(slack, 3 * math.sqrt(expected))
    if received <= expected + in_flight + slack:
        return None
    return (
        f"throughput {per_s:.1f}/s is above its bound {bound:.1f}/s ({name}, "
        f"min(offered, ideal)) by {received - expected:.0f} emails over the "
        f"{window.seconds:g}s window, more than the {in_flight} in flight at its start: "
        "a figure that cannot be true"
    )


def identity_error(unidentified: int, identified: int) -> str | None:
    """Emails reached the sink, but none could be matched to what was produced."""
    if not unidentified or identified:
        return None
    return (
        f"none of the {unidentified} emails at the sink carries a poolbench id: the consumer "
        "must copy the Kafka header poolbench-id into the email header X-Poolbench-Id "
        "(and poolbench-intended-ns into X-Poolbench-Intended-Ns), or put the event's "
        "message.id in the subject or body"
    )


def accounting_errors(
    acc: Accounting, broker_name: str = "broker", *, allowed_drops: int = 0
) -> list[str]:
    """What makes a point's counts a failure that is not the consumer's loss. Retention
    drops up to `allowed_drops` (the scenario's `allow.retention_drops`) are not one:
    `retention_note` says them."""
    out = []
    if acc.undelivered:
        out.append(
            f"drain incomplete: {acc.undelivered} of {acc.produced} emails were still in "
            "Kafka, uncommitted, when the consumers stopped (not lost: Kafka redelivers "
            f"them) ({', '.join(acc.undelivered_ids)}"
            f"{', ...' if acc.undelivered > len(acc.undelivered_ids) else ''})"
        )
    if acc.dropped_by_broker > allowed_drops:
        allowance = f" (allow.retention_drops: {allowed_drops})" if allowed_drops else ""
        out.append(
            f"the {broker_name}'s retention dropped {acc.dropped_by_broker} events before "
            f"the consumer group read them{allowance}: this point measured the broker"
        )
    return out


def retention_note(
    acc: Accounting, broker_name: str = "broker", *, allowed_drops: int = 0
) -> str | None:
    """Allowed retention drops, said anyway: the figures are of the events kept."""
    if not acc.dropped_by_broker or acc.dropped_by_broker > allowed_drops:
        return None
    return (
        f"the {broker_name}'s retention dropped {acc.dropped_by_broker} of {acc.produced} "
        f"events before the consumer group read them, allowed by allow.retention_drops: "
        f"{allowed_drops}; the figures are of the events it kept"
    )


def queue_wait_note(lat: Latencies | None, kept_backlog: int | None) -> str | None:
    """Under a saturating load, end-to-end latency is mostly the wait in the backlog
    poolbench itself keeps ahead of the group: a harness setting, not the consumer's."""
    if lat is None or kept_backlog is None or lat.wait is None or lat.service is None:
        return None
    return (
        f"queue wait, set by the backlog poolbench keeps: {kept_backlog} emails "
        f"(wait p99 {lat.wait.p99:.0f} ms of end-to-end p99 "
        f"{lat.end_to_end.p99 if lat.end_to_end else float('nan'):.0f} ms); the "
        f"consumer's own latency is its service p99 {lat.service.p99:.1f} ms"
    )
