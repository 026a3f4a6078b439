"""The time budget: each email's send time cut into parts that add up exactly."""

from __future__ import annotations

from dataclasses import dataclass

from poolbench.run.budget import split, time_budget

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class St:
    connected_ns: int | None
    greeting_ns: int | None
    ready_ns: int | None
    mail_ns: int
    mail_reply_ns: int
    rcpt_ns: int
    rcpt_reply_ns: int
    data_ns: int
    data_reply_ns: int
    eod_ns: int
    delay_ns: int
    handshake_delay_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rec:
    started_ns: int | None
    received_ns: int
    steps: St | None


def lockstep(*, new: bool, think_ms: int = 1, delay_ms: int = 20) -> Rec:
    """A lockstep transaction: each reply takes 1 ms, the client thinks `think_ms`."""
    t = T0 + 2 * MS  # the worker started at T0; connect + render take 2 ms
    connected = greeting = ready = None
    if new:
        connected = t
        greeting = t + 1 * MS
        ready = greeting + 2 * MS  # EHLO arrives 1 ms after the greeting, answered in 1 ms
        t = ready
    mail = t + think_ms * MS
    mail_reply = mail + 1 * MS
    rcpt = mail_reply + think_ms * MS
    rcpt_reply = rcpt + 1 * MS
    data = rcpt_reply + think_ms * MS
    data_reply = data + 1 * MS
    eod = data_reply + think_ms * MS
    received = eod + (1 + delay_ms) * MS  # the latency is injected before the final reply
    return Rec(
        started_ns=T0,
        received_ns=received,
        steps=St(
            connected_ns=connected,
            greeting_ns=greeting,
            ready_ns=ready,
            mail_ns=mail,
            mail_reply_ns=mail_reply,
            rcpt_ns=rcpt,
            rcpt_reply_ns=rcpt_reply,
            data_ns=data,
            data_reply_ns=data_reply,
            eod_ns=eod,
            delay_ns=delay_ms * MS,
            handshake_delay_ns=0,
        ),
    )


def test_a_new_connection_splits_into_connect_handshake_client_and_server() -> None:
    parts = split(lockstep(new=True))
    assert parts is not None
    assert parts.connect_ns == 2 * MS
    assert parts.handshake_ns == 3 * MS
    assert parts.client_ns == 4 * MS  # four think gaps of 1 ms
    assert parts.server_latency_ns == 20 * MS
    assert parts.server_ns == 4 * MS  # four replies of 1 ms
    assert parts.residual_ns == 0
    assert parts.send_ns == 33 * MS


def test_a_kept_connection_has_no_handshake() -> None:
    parts = split(lockstep(new=False, think_ms=3))
    assert parts is not None
    assert parts.handshake_ns == 0
    assert parts.connect_ns == 2 * MS + 3 * MS  # start -> MAIL: render, write, think
    assert parts.client_ns == 9 * MS  # three more gaps of 3 ms
    assert parts.residual_ns == 0


def test_pipelined_commands_are_not_counted_twice() -> None:
    base = lockstep(new=False)
    assert base.steps is not None
    s = base.steps
    # MAIL, RCPT and DATA arrive together; replies follow 1 ms apart.
    piped = St(
        connected_ns=None,
        greeting_ns=None,
        ready_ns=None,
        mail_ns=s.mail_ns,
        mail_reply_ns=s.mail_ns + 1 * MS,
        rcpt_ns=s.mail_ns,
        rcpt_reply_ns=s.mail_ns + 2 * MS,
        data_ns=s.mail_ns,
        data_reply_ns=s.mail_ns + 3 * MS,
        eod_ns=s.mail_ns + 4 * MS,
        delay_ns=20 * MS,
        handshake_delay_ns=0,
    )
    rec = Rec(started_ns=T0, received_ns=s.mail_ns + 25 * MS, steps=piped)
    parts = split(rec)
    assert parts is not None
    assert parts.server_ns + parts.server_latency_ns == 24 * MS  # union, not 1+2+3+21
    assert parts.client_ns == 1 * MS
    assert parts.residual_ns == 0


def test_the_budget_is_the_mean_and_the_parts_add_up() -> None:
    budget = time_budget(
        [
            lockstep(new=True),
            lockstep(new=False),
            Rec(started_ns=T0, received_ns=T0 + 5 * MS, steps=None),
        ],
        cycle_ms=40.0,
    )
    assert budget is not None
    assert budget.emails == 2
    assert budget.new_connections == 1
    total = sum(budget.parts().values())
    assert abs(total - budget.send_ms) <= 0.02 * budget.send_ms
    assert budget.after_ms == 40.0 - budget.send_ms


def test_no_stamps_no_budget() -> None:
    assert time_budget([Rec(started_ns=T0, received_ns=T0 + MS, steps=None)]) is None
