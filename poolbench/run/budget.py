"""Where each email's send time goes, from the sink's per-step stamps alone.

The sink stamps every SMTP step of a transaction (`poolbench.sink.receipt.Steps`): the
connection, the greeting, the end of the handshake, each command's arrival and the
moment its reply was written, and how much latency it injected on purpose. The consumer
stamps only the worker's start (`X-Poolbench-Started-Ns`). So the budget needs no
instrumentation in the consumer, and a foreign consumer gets one too (from its first
server-visible step on, when it sends no start stamp).

The interval from the worker's start to the final reply is cut, exactly, into:
- connect: start -> the connection was accepted (rendering and the TCP connect), or,
  on a kept connection, start -> MAIL arrived (rendering and the client's writes);
- handshake: accepted -> the last reply before MAIL (greeting, EHLO, AUTH, STARTTLS),
  less the latency injected there;
- client: every gap in which the server held no unanswered command: from a reply to the
  client's next command (the client's think time, plus loopback transit);
- server latency: what the sink injected on purpose (the scenario's `sink.latency`);
- server: the rest of the time a command waited for its reply inside the sink.
With PIPELINING several commands overlap; the gaps are taken on the union of their
intervals, so nothing is counted twice. The parts add up to the send time unless stamps
contradict each other (clock steps), which `residual_ms` shows.

Outside the send time, a saturated worker also spends time after the reply (QUIT, the
close, handing over the next job): `after_ms` is the worker's cycle time per email
(workers / throughput) minus the mean send time.

The sink stamps a command's arrival when its event loop gets to it: a loop running late
stamps late, which moves time from "server" to "client" (and from "handshake" to
"connect"). The budget carries both loops' lag (`poolbench.metrics.loop_lag`) and
`sink_lag_note` says when the sink's could have moved a visible share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from poolbench.metrics.loop_lag import LoopLag

_NS_PER_MS: Final = 1e6


class StepsLike(Protocol):
    @property
    def connected_ns(self) -> int | None: ...
    @property
    def greeting_ns(self) -> int | None: ...
    @property
    def ready_ns(self) -> int | None: ...
    @property
    def mail_ns(self) -> int: ...
    @property
    def mail_reply_ns(self) -> int: ...
    @property
    def rcpt_ns(self) -> int: ...
    @property
    def rcpt_reply_ns(self) -> int: ...
    @property
    def data_ns(self) -> int: ...
    @property
    def data_reply_ns(self) -> int: ...
    @property
    def eod_ns(self) -> int: ...
    @property
    def delay_ns(self) -> int: ...
    @property
    def handshake_delay_ns(self) -> int: ...


class StampedReceipt(Protocol):
    @property
    def started_ns(self) -> int | None: ...
    @property
    def received_ns(self) -> int: ...
    @property
    def steps(self) -> StepsLike | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """One email's send time, cut into parts (nanoseconds)."""

    connect_ns: int
    handshake_ns: int
    client_ns: int
    server_latency_ns: int
    server_ns: int
    send_ns: int  # the whole: start (or first step) -> final reply

    @property
    def residual_ns(self) -> int:
        return self.send_ns - (
            self.connect_ns
            + self.handshake_ns
            + self.client_ns
            + self.server_latency_ns
            + self.server_ns
        )


def _union_length(intervals: list[tuple[int, int]]) -> int:
    total = 0
    end = None
    for lo, hi in sorted(intervals):
        if end is None or lo > end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def split(receipt: StampedReceipt) -> Parts | None:
    """The parts of one email's send time; None without stamps."""
    steps = receipt.steps
    if steps is None:
        return None
    new_connection = steps.connected_ns is not None
    first_step = steps.connected_ns if steps.connected_ns is not None else steps.mail_ns
    start = receipt.started_ns if receipt.started_ns is not None else first_step
    end = receipt.received_ns
    connect = max(0, first_step - start)
    handshake = 0
    transaction_start = steps.mail_ns
    if new_connection and steps.connected_ns is not None:
        ready = steps.ready_ns if steps.ready_ns is not None else steps.mail_ns
        handshake = max(0, ready - steps.connected_ns - steps.handshake_delay_ns)
        transaction_start = ready
    # Inside the transaction: the server holds a command from its arrival to its reply.
    busy = [
        (steps.mail_ns, steps.mail_reply_ns),
        (steps.rcpt_ns, steps.rcpt_reply_ns),
        (steps.data_ns, steps.data_reply_ns),
        (steps.eod_ns, end),
    ]
    server_total = _union_length([(lo, max(lo, hi)) for lo, hi in busy])
    span = max(0, end - transaction_start)
    client = max(0, span - server_total)
    latency = min(steps.delay_ns, server_total)
    return Parts(
        connect_ns=connect,
        handshake_ns=handshake,
        client_ns=client,
        server_latency_ns=latency + (steps.handshake_delay_ns if new_connection else 0),
        server_ns=server_total - latency,
        send_ns=end - start,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeBudget:
    """Mean milliseconds per email of each part, over the emails that carried stamps."""

    emails: int
    new_connections: int  # emails whose transaction opened its connection
    send_ms: float
    connect_ms: float
    handshake_ms: float
    client_ms: float
    server_latency_ms: float
    server_ms: float
    residual_ms: float
    after_ms: float | None = None  # saturated workers only: cycle time - send time
    # How late each event loop ran a due callback over the point (None: not measured).
    consumer_lag_p50_ms: float | None = None
    consumer_lag_p99_ms: float | None = None
    consumer_lag_max_ms: float | None = None
    sink_lag_p50_ms: float | None = None
    sink_lag_p99_ms: float | None = None
    sink_lag_max_ms: float | None = None

    PARTS = ("connect_ms", "handshake_ms", "client_ms", "server_latency_ms", "server_ms")

    def parts(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in self.PARTS}

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "emails": self.emails,
            "new_connections": self.new_connections,
            "send_ms": self.send_ms,
            **self.parts(),
            "residual_ms": self.residual_ms,
            "after_ms": self.after_ms,
            "consumer_lag_p50_ms": self.consumer_lag_p50_ms,
            "consumer_lag_p99_ms": self.consumer_lag_p99_ms,
            "consumer_lag_max_ms": self.consumer_lag_max_ms,
            "sink_lag_p50_ms": self.sink_lag_p50_ms,
            "sink_lag_p99_ms": self.sink_lag_p99_ms,
            "sink_lag_max_ms": self.sink_lag_max_ms,
        }


# The sink's lag is worth a note once its p99 reaches this share of the client part.
SINK_LAG_NOTE_SHARE: Final = 0.1


def sink_lag_note(budget: TimeBudget) -> str | None:
    """A warning when the sink's loop lag could have moved time from "server" (and
    "handshake") to "client" (and "connect"): every arrival stamp can be that late."""
    p99 = budget.sink_lag_p99_ms
    if p99 is None or p99 < SINK_LAG_NOTE_SHARE * budget.client_ms:
        return None
    return (
        f"the sink's event loop ran up to {p99:.2f} ms late (p99; max "
        f"{budget.sink_lag_max_ms or 0:.2f} ms): each command's arrival stamp may be that "
        f"late, so up to that much per command of the 'client' part "
        f"({budget.client_ms:.2f} ms) may belong to 'server', and of 'connect' to 'handshake'"
    )


def time_budget(
    receipts: Iterable[StampedReceipt],
    *,
    cycle_ms: float | None = None,
    consumer_lag: LoopLag | None = None,
    sink_lag: LoopLag | None = None,
) -> TimeBudget | None:
    """The mean budget of the stamped receipts; None when none carried stamps.

    `cycle_ms`: a saturated worker's time per email (workers x window / emails), to
    show what the worker spent outside the send time.
    """
    count = 0
    new = 0
    sums = [0, 0, 0, 0, 0, 0, 0]
    for receipt in receipts:
        parts = split(receipt)
        if parts is None:
            continue
        count += 1
        steps = receipt.steps
        if steps is not None and steps.connected_ns is not None:
            new += 1
        for i, value in enumerate(
            (
                parts.send_ns,
                parts.connect_ns,
                parts.handshake_ns,
                parts.client_ns,
                parts.server_latency_ns,
                parts.server_ns,
                parts.residual_ns,
            )
        ):
            sums[i] += value
    if count == 0:
        return None
    send, connect, handshake, client, latency, server, residual = (
        s / count / _NS_PER_MS for s in sums
    )
    return TimeBudget(
        emails=count,
        new_connections=new,
        send_ms=send,
        connect_ms=connect,
        handshake_ms=handshake,
        client_ms=client,
        server_latency_ms=latency,
        server_ms=server,
        residual_ms=residual,
        after_ms=None if cycle_ms is None else cycle_ms - send,
        consumer_lag_p50_ms=None if consumer_lag is None else consumer_lag.p50_ms,
        consumer_lag_p99_ms=None if consumer_lag is None else consumer_lag.p99_ms,
        consumer_lag_max_ms=None if consumer_lag is None else consumer_lag.max_ms,
        sink_lag_p50_ms=None if sink_lag is None else sink_lag.p50_ms,
        sink_lag_p99_ms=None if sink_lag is None else sink_lag.p99_ms,
        sink_lag_max_ms=None if sink_lag is None else sink_lag.max_ms,
    )
