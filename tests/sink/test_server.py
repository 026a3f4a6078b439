"""The sink over real TCP with real SMTP clients (aiosmtplib, smtplib)."""

from __future__ import annotations

import asyncio
import math
import os
import smtplib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import psutil
import pytest

from poolbench.errors import ConfigError, RunError
from poolbench.sink import (
    Auth,
    FaultConfig,
    RateLimit,
    SinkServer,
    parse_latency,
    parse_outage,
    read_ledger,
)
from poolbench.sink.receipt import STEP_FIELDS
from tests.sink.clients import client, data_times, message, send_counting

Factory = Callable[..., SinkServer]


def _binomial_ok(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


# The sink runs in its own process: in a thread it would share the GIL with these
# clients, and each hand-over can wait the 5 ms switch interval. What the sink drew for
# each email is exact (its own stamps, a fixed seed); what a client sees on the wire is
# that plus scheduling, which on a busy 2-core machine can be tens of milliseconds. So
# the wire is held to bounds measured in the same run: never shorter than the draw, and
# no more above it than twice what a fixed 20 ms delay on RCPT, observed on the same
# connections, is above 20 ms (plus 10 ms for the DATA step's own work). n is set by the
# spread of the sample median: 3 standard errors < 10% of the median, except for the
# exponential, whose median spreads widely (1.4 there; the seed is fixed, so the sampled
# set is the same on every run, and its median is within 2% of the model's; the sampling
# itself is tested with 20k draws in test_latency).
_CALIBRATION = 0.020


@pytest.mark.parametrize(
    ("model", "n", "concurrency"),
    [
        ("100ms", 40, 20),
        ("uniform:50ms..150ms", 240, 20),
        ("normal:100ms,20ms", 100, 20),
        ("lognormal:median=200ms,p99=600ms", 640, 64),
        pytest.param("exp:140ms", 400, 20, marks=pytest.mark.slow),
    ],
)
async def test_observed_median_delay_matches_each_model(
    sink_factory: Factory, model: str, n: int, concurrency: int
) -> None:
    latency = parse_latency(model)
    sink = sink_factory(
        latency=latency,
        command_latency={"RCPT": parse_latency(_CALIBRATION)},
        seed=1,
        isolated=True,
    )
    times, controls = await data_times(sink, n=n, concurrency=concurrency, stagger=latency.median())
    assert len(times) == len(controls) == n
    assert sink.counters().received == n
    drawn: dict[str, float] = {}
    for receipt in sink.receipts():
        assert receipt.steps is not None
        # delay_ns holds every delay from MAIL to the end of data: RCPT's and the draw.
        drawn[receipt.id] = receipt.steps.delay_ns / 1e9 - _CALIBRATION
    assert drawn.keys() == times.keys()
    assert statistics.median(drawn.values()) == pytest.approx(latency.median(), rel=0.10)
    # A reply is never earlier than its draw (1 ms for the two clocks' resolution).
    short = {i: (times[i], d) for i, d in drawn.items() if times[i] < d - 0.001}
    assert not short, short
    # RCPT cannot be answered before its fixed delay.
    overhead = statistics.median(controls) - _CALIBRATION
    assert overhead >= -0.001
    excess = statistics.median(times[i] - d for i, d in drawn.items())
    assert excess <= 2 * max(overhead, 0.0) + 0.010, (excess, overhead)


async def test_latency_per_step_delays_greeting_and_mail(sink_factory: Factory) -> None:
    sink = sink_factory(
        command_latency={"greeting": parse_latency("80ms"), "MAIL": parse_latency("60ms")}
    )
    smtp = client(sink)
    start = time.perf_counter()
    await smtp.connect()
    connect = time.perf_counter() - start
    start = time.perf_counter()
    await smtp.mail("a@example.com")
    mail = time.perf_counter() - start
    start = time.perf_counter()
    await smtp.rcpt("b@example.com")
    await smtp.data(message())
    rest = time.perf_counter() - start
    await smtp.quit()
    assert connect >= 0.08
    assert mail >= 0.06
    assert rest >= 0
    # What the sink injected, per step, from its own stamps (no wall-clock race):
    # RCPT and DATA are not delayed.
    (receipt,) = sink.receipts()
    assert receipt.steps is not None
    assert receipt.steps.handshake_delay_ns == pytest.approx(80_000_000, abs=1_000)
    assert receipt.steps.delay_ns == pytest.approx(60_000_000, abs=1_000)


async def test_faults_at_data_are_drawn_at_their_probabilities(sink_factory: Factory) -> None:
    n = 600
    sink = sink_factory(faults=FaultConfig(transient=0.2, permanent=0.1, drop=0.1), seed=3)
    outcomes = await send_counting(sink, n=n, concurrency=10)
    assert sum(outcomes.values()) == n
    assert _binomial_ok(outcomes["451"], n, 0.2), outcomes
    assert _binomial_ok(outcomes["550"], n, 0.1), outcomes
    assert _binomial_ok(outcomes["dropped"], n, 0.1), outcomes
    counters = sink.counters()
    assert counters.transient == outcomes["451"]
    assert counters.permanent == outcomes["550"]
    assert counters.dropped == outcomes["dropped"]
    assert counters.received == outcomes["250"] == len(sink.receipts())


async def test_faults_can_hit_mail_instead_of_data(sink_factory: Factory) -> None:
    sink = sink_factory(faults=FaultConfig(permanent=1.0, commands=("MAIL",)))
    smtp = client(sink)
    await smtp.connect()
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as info:
        await smtp.sendmail("a@example.com", ["b@example.com"], message())
    assert info.value.code == 550
    await smtp.quit()
    assert sink.counters().permanent == 1
    assert sink.counters().received == 0


async def test_greeting_faults_refuse_the_connection(sink_factory: Factory) -> None:
    sink = sink_factory(faults=FaultConfig(transient=1.0, commands=("greeting",)))
    smtp = client(sink)
    try:
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as info:
            await smtp.connect()
    finally:
        smtp.close()
    assert info.value.code == 421


def test_connection_cap_refuses_with_421_and_frees_slots(sink_factory: Factory) -> None:
    sink = sink_factory(max_connections=3)
    held = [smtplib.SMTP(sink.host, sink.port, local_hostname="t") for _ in range(3)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as info:
            smtplib.SMTP(sink.host, sink.port, local_hostname="t")
        assert info.value.smtp_code == 421
        assert sink.counters().over_capacity == 1
        assert sink.counters().connections_open == 3
        held.pop().quit()
        deadline = time.monotonic() + 10
        while sink.counters().connections_open > 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        extra = smtplib.SMTP(sink.host, sink.port, local_hostname="t")
        assert extra.noop()[0] == 250
        held.append(extra)
    finally:
        for connection in held:
            connection.quit()


async def test_rate_limit_is_enforced_with_451(sink_factory: Factory) -> None:
    sink = sink_factory(rate_limit=RateLimit(rate=20, burst=5))
    smtp = client(sink)
    await smtp.connect()
    accepted = refused = 0
    start = time.monotonic()
    # Until 15 are accepted: more than the burst, so the bucket must have refilled;
    # the loop ends on a count, not on a wall-clock window.
    while accepted < 15:
        try:
            await smtp.sendmail("a@example.com", ["b@example.com"], message())
            accepted += 1
        except aiosmtplib.SMTPSenderRefused as exc:
            assert exc.code == 451
            refused += 1
            await smtp.rset()
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - start
    await smtp.quit()
    assert accepted <= 5 + 20 * elapsed + 1  # never more than the bucket allows
    assert refused > 0
    counters = sink.counters()
    assert counters.rate_limited == refused
    assert counters.received == accepted


async def _attempts(sink: SinkServer, at: list[float]) -> list[tuple[float, float, str]]:
    """(sent, answered, outcome) of one email per fresh connection, sent at each `at`
    second after the sink started (its outage clock), all at once."""

    async def attempt(when: float) -> tuple[float, float, str]:
        await asyncio.sleep(max(0.0, when - (time.monotonic() - sink.started)))
        sent = time.monotonic() - sink.started
        outcome = "250"
        smtp = client(sink)
        try:
            await smtp.connect()
            await smtp.sendmail("a@example.com", ["b@example.com"], message())
            await smtp.quit()
        except aiosmtplib.SMTPResponseException as exc:
            outcome = str(exc.code)
        finally:
            smtp.close()
        return sent, time.monotonic() - sink.started, outcome

    return list(await asyncio.gather(*(attempt(when) for when in at)))


@pytest.mark.slow
async def test_reject_outage_window_is_honoured(sink_factory: Factory) -> None:
    sink = sink_factory(outages=(parse_outage("reject:0.6s..1.4s"),))
    results = await _attempts(sink, at=[0.05, 0.1, 0.8, 0.9, 1.0, 1.7, 1.8])
    for sent, done, outcome in results:
        if done < 0.6:
            assert outcome == "250", results
        elif sent >= 0.6 and done < 1.4:
            assert outcome in {"421", "451"}, results
        elif sent >= 1.4:
            assert outcome == "250", results
    refused = [o for _, _, o in results if o != "250"]
    assert len(refused) >= 1  # at least one attempt fell wholly inside the window
    assert sink.counters().outage == len(refused)
    assert sink.counters().received == len(results) - len(refused)


@pytest.mark.slow
async def test_stall_outage_holds_replies_until_it_ends(sink_factory: Factory) -> None:
    sink = sink_factory(outages=(parse_outage("stall:0.4s..1.0s"),))
    results = await _attempts(sink, at=[0.05, 0.5, 0.7])
    assert [o for _, _, o in results] == ["250", "250", "250"]
    _, *inside = results
    for sent, done, _ in inside:
        if sent >= 0.4:
            assert done >= 1.0, results
    assert sink.counters().outage == 0


async def test_a_mail_refused_by_an_outage_spends_no_rate_limit_token(
    sink_factory: Factory,
) -> None:
    sink = sink_factory(
        outages=(parse_outage("reject:2s..60s"),), rate_limit=RateLimit(rate=0.01, burst=1)
    )
    smtp = client(sink)
    await smtp.connect()  # before the outage: the greeting is answered
    try:
        await asyncio.sleep(max(0.0, sink.started + 2.1 - time.monotonic()))
        codes = []
        for _ in range(3):
            with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
                await smtp.mail("a@example.com")
            codes.append(caught.value.code)
            await smtp.rset()
    finally:
        smtp.close()
    assert codes == [451, 451, 451]
    counters = sink.counters()
    assert (counters.outage, counters.rate_limited) == (3, 0)


def _tls_client(sink: SinkServer, tls: str) -> smtplib.SMTP:
    context = sink.client_ssl_context()
    if tls == "implicit":
        return smtplib.SMTP_SSL(sink.host, sink.port, local_hostname="t", context=context)
    smtp = smtplib.SMTP(sink.host, sink.port, local_hostname="t")
    smtp.starttls(context=context)
    return smtp


# smtplib here: aiosmtplib's TLS close needs the loop to run on after the test's last
# await, and a torn-down loop leaves its socket unclosed (a ResourceWarning).
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_auth_over_tls_accepts_the_right_credentials_only(sink_factory: Factory, tls: str) -> None:
    sink = sink_factory(tls=tls, auth=Auth(user="mailer", password="s3cret"))
    with _tls_client(sink, tls) as good:
        good.login("mailer", "s3cret")
        good.sendmail("a@example.com", ["b@example.com"], message("ok-1"))

    with _tls_client(sink, tls) as bad, pytest.raises(smtplib.SMTPAuthenticationError) as info:
        bad.login("mailer", "wrong")
    assert info.value.smtp_code == 535
    refused_logins = sink.counters().auth  # smtplib tries each mechanism: PLAIN, LOGIN
    assert refused_logins >= 1

    with _tls_client(sink, tls) as anonymous:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            anonymous.sendmail("a@example.com", ["b@example.com"], message())
        assert refused.value.smtp_code == 530

    counters = sink.counters()
    assert counters.received == 1
    assert counters.auth == refused_logins + 1
    assert [r.id for r in sink.receipts()] == ["ok-1"]


def test_starttls_is_required_and_auth_login_works(sink_factory: Factory) -> None:
    sink = sink_factory(tls="starttls", auth=Auth(user="u", password="p"))
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as plain:
        code, _ = plain.mail("a@example.com")
        assert code == 530  # must issue STARTTLS first
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        smtp.starttls(context=sink.client_ssl_context())
        smtp.ehlo("t")
        smtp.user, smtp.password = "u", "p"
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235
        smtp.sendmail("a@example.com", ["b@example.com"], message("login-1"))
    assert [r.id for r in sink.receipts()] == ["login-1"]


def test_auth_fail_probability_refuses_good_credentials(sink_factory: Factory) -> None:
    sink = sink_factory(
        tls="implicit", auth=Auth(user="u", password="p"), faults=FaultConfig(auth_fail=1.0)
    )
    with (
        smtplib.SMTP_SSL(
            sink.host, sink.port, local_hostname="t", context=sink.client_ssl_context()
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login("u", "p")
    assert sink.counters().auth >= 1


async def test_receipts_duplicates_and_ledger_file_match(
    sink_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    sink = sink_factory(record_path=path)
    ids = [f"id-{i}" for i in range(50)] + ["id-3", "id-7", "id-7"]
    before = time.monotonic_ns()
    outcomes = await send_counting(
        sink, n=len(ids), concurrency=5, make=lambda i: message(ids[i], intended_ns=i)
    )
    after = time.monotonic_ns()
    assert outcomes == {"250": len(ids)}
    counters = sink.counters()
    assert counters.received == len(ids)
    assert counters.duplicates == 3
    receipts = sink.receipts()
    assert sorted(r.id for r in receipts) == sorted(ids)
    assert all(r.mail_from == "a@example.com" for r in receipts)
    # Receipt and step stamps are CLOCK_MONOTONIC (the load generator's and the
    # consumer's clock): between the test's own readings of it around the sends.
    assert all(before <= r.received_ns <= after for r in receipts)
    stamps = [
        ns
        for r in receipts
        if r.steps is not None
        for name, ns in zip(STEP_FIELDS, r.steps.as_tuple(), strict=True)
        if ns is not None and not name.endswith("delay_ns")
    ]
    assert len(stamps) >= 7 * len(receipts)  # MAIL to end of data, at least
    assert all(before <= ns <= after for ns in stamps)
    assert {r.intended_ns for r in receipts} == set(range(len(ids)))
    sink.stop()
    assert sorted(read_ledger(path), key=lambda r: r.received_ns) == sorted(
        receipts, key=lambda r: r.received_ns
    )


@pytest.mark.slow
async def test_two_processes_share_the_port_and_merge(
    sink_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    sink = sink_factory(processes=2, record_path=path)
    ids = [f"m-{i}" for i in range(200)] + ["m-1"] * 4

    async def one(i: int) -> None:
        smtp = client(sink)
        await smtp.connect()
        await smtp.sendmail("a@example.com", ["b@example.com"], message(ids[i]))
        await smtp.quit()

    for start in range(0, len(ids), 20):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 20, len(ids)))))
    counters = sink.counters()
    assert counters.processes == 2
    assert counters.received == len(ids)
    assert counters.duplicates == 4  # counted across processes
    assert counters.connections_total == len(ids)
    assert counters.cpu_seconds > 0
    assert len(sink.receipts()) == len(ids)
    final = sink.stop()
    assert final.received == len(ids)
    assert sorted(r.id for r in read_ledger(path)) == sorted(ids)
    assert sorted(p.name for p in os.scandir(tmp_path)) == ["ledger.jsonl"]


def test_busy_port_is_a_config_error(sink_factory: Factory) -> None:
    first = sink_factory()
    with pytest.raises(ConfigError, match="cannot listen"):
        sink_factory(port=first.port)


def test_cpu_of_the_server_thread_is_reported(sink_factory: Factory) -> None:
    sink = sink_factory()
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        for _ in range(300):
            smtp.sendmail("a@example.com", ["b@example.com"], message())
    counters = sink.counters()
    assert counters.received == 300
    assert counters.cpu_seconds > 0
    assert counters.cpu_percent > 0


def _wait_until_exited(process: psutil.Process) -> None:
    # Not psutil's wait(): that would reap the child before the sink sees its exit code.
    deadline = time.monotonic() + 10
    while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)


async def test_a_sink_process_that_died_is_an_error_not_a_silent_drop(
    sink_factory: Factory,
) -> None:
    sink = sink_factory(isolated=True)
    assert await send_counting(sink, n=3, concurrency=1) == {"250": 3}
    assert sink.counters().received == 3
    children = [p for p in psutil.Process().children() if "_child_entry" in " ".join(p.cmdline())]
    assert len(children) == 1
    children[0].kill()
    _wait_until_exited(children[0])
    with pytest.raises(RunError, match=r"SMTP sink process 0 exited with code -9"):
        sink.counters()
    with pytest.raises(RunError, match=r"SMTP sink process 0 exited"):
        sink.receipts()


async def test_without_kept_receipts_only_ids_are_kept_and_duplicates_still_count(
    sink_factory: Factory,
) -> None:
    sink = sink_factory(keep_receipts=False)
    ids = ["11111111-1111-1111-1111-111111111111"] * 2 + [str(i) for i in range(3)]
    assert await send_counting(sink, n=5, concurrency=1, make=lambda i: message(ids[i])) == {
        "250": 5
    }
    counters = sink.counters()
    assert (counters.received, counters.duplicates) == (5, 1)
    with pytest.raises(RunError, match="keeps no receipts"):
        sink.receipts()
    assert sink._receipts == []  # what the option is for: nothing per email but its id


@pytest.mark.slow
@pytest.mark.parametrize("first_processes", [1, 2])
def test_a_multi_process_sink_refuses_a_port_another_sink_holds(
    sink_factory: Factory, first_processes: int
) -> None:
    first = sink_factory(processes=first_processes)
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
        sink_factory(port=first.port, processes=2)
