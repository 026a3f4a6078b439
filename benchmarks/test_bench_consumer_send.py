"""The consumer's per-email path against the fastest sink, beside bare aiosmtplib senders.

Each round sends EMAILS emails with WORKERS concurrent senders to Postfix's C
`smtp-sink` (when /opt/postfix has it; else poolbench's sink in its own process), over
kept connections or a new connection per email:

- `poolbench`: what a consumer worker does per email, minus Kafka: render the template,
  assemble the MIME message, `SmtpSender.send` (the lean client, PIPELINING when the sink
  offers it), on the consumer's own event loop (`service.new_event_loop`, uvloop where
  installed).
- `bare`: aiosmtplib `SMTP.sendmail` of a prebuilt message of about the same size, on
  asyncio's default loop: the plain way, and the baseline.

`extra_info` holds emails/s and the client's CPU per email (`time.process_time`; the
sink runs in another process). Goal on one core: the poolbench row at least 6,000/s kept
and 3,000/s new connections against C smtp-sink. The machine is shared: compare rows of
one run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from typing import Any

import aiosmtplib
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.consumer_ceiling import postfix_available, postfix_sink
from poolbench.consumer.mime import build_message
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.service import new_event_loop
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.templates import TemplateSet
from poolbench.sink import SinkConfig, SinkServer
from poolbench.wire import EMAIL_HEADER_ID, EMAIL_HEADER_STARTED_NS, EmailEvent, EmailMessage

EMAILS = 1500
WORKERS = 20
BARE_BODY = b"\r\n".join([b"x" * 76] * 14)


@pytest.fixture(scope="module")
def sink_address() -> Iterator[tuple[str, int, str]]:
    with ExitStack() as stack:
        if postfix_available():
            host, port = stack.enter_context(postfix_sink())
            yield host, port, "postfix smtp-sink"
        else:
            sink = stack.enter_context(SinkServer(SinkConfig(isolated=True)))
            yield sink.host, sink.port, "poolbench sink"


def _events() -> list[EmailEvent]:
    return [
        EmailEvent(
            type="welcome",
            message=EmailMessage(
                id=f"bench-{n}",
                sender="shop@example.com",
                to=f"user{n}@example.org",
                subject=f"Welcome {n}",
                template="welcome",
                data={"name": "Ada Lovelace"},
            ),
        )
        for n in range(EMAILS)
    ]


async def _drain(count: int, send_one: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """WORKERS tasks sending emails 0..count-1 between them."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await send_one(n)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


def _ours(host: str, port: int, reuse: bool) -> Callable[[], Coroutine[Any, Any, None]]:
    settings = ConsumerSettings(smtp_host=host, smtp_port=port, connection_reuse=reuse)
    templates = TemplateSet.load(None)
    events = _events()

    async def one_round() -> None:
        senders = [SmtpSender(settings, local_hostname="bench") for _ in range(WORKERS)]
        free = list(senders)

        async def send_one(n: int) -> None:
            event = events[n]
            extra = {
                EMAIL_HEADER_STARTED_NS: str(time.monotonic_ns()),
                EMAIL_HEADER_ID: event.message.id,
            }
            data = build_message(event, templates.render(event), extra_headers=extra)
            sender = free.pop()
            try:
                await sender.send(event.message.sender, event.message.to, data)
            finally:
                free.append(sender)

        await _drain(EMAILS, send_one)
        for sender in senders:
            await sender.close()

    return one_round


def _bare(host: str, port: int, reuse: bool) -> Callable[[], Coroutine[Any, Any, None]]:
    async def one_round() -> None:
        clients: list[aiosmtplib.SMTP] = []

        async def client() -> aiosmtplib.SMTP:
            smtp = aiosmtplib.SMTP(hostname=host, port=port, local_hostname="bare", start_tls=False)
            await smtp.connect()
            return smtp

        async def send_one(n: int) -> None:
            message = b"Subject: bare %d\r\nX-Poolbench-Id: bare-%d\r\n\r\n%b\r\n" % (
                n,
                n,
                BARE_BODY,
            )
            if not reuse:
                smtp = await client()
                await smtp.sendmail("shop@example.com", [f"user{n}@example.org"], message)
                await smtp.quit()
                return
            smtp = clients.pop() if clients else await client()
            try:
                await smtp.sendmail("shop@example.com", [f"user{n}@example.org"], message)
            finally:
                clients.append(smtp)

        await _drain(EMAILS, send_one)
        for smtp in clients:
            await smtp.quit()

    return one_round


@pytest.mark.benchmark(group="consumer-send")
@pytest.mark.parametrize("reuse", [True, False], ids=["kept", "new-connection"])
@pytest.mark.parametrize("variant", ["poolbench", "bare"])
def test_send_path_against_the_fastest_sink(
    benchmark: BenchmarkFixture,
    sink_address: tuple[str, int, str],
    variant: str,
    reuse: bool,
) -> None:
    host, port, sink_name = sink_address
    make = _ours if variant == "poolbench" else _bare
    loop = new_event_loop() if variant == "poolbench" else asyncio.new_event_loop()
    one_round = make(host, port, reuse)
    cpu: list[float] = []

    def run() -> None:
        began = time.process_time()
        loop.run_until_complete(one_round())
        cpu.append(time.process_time() - began)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)  # type: ignore[no-untyped-call]
    finally:
        loop.close()
    stats = benchmark.stats
    if stats is None:  # --benchmark-disable: ran once, nothing to record
        return
    benchmark.extra_info["sink"] = sink_name
    benchmark.extra_info["emails_per_s"] = round(EMAILS / stats.stats.median)
    benchmark.extra_info["cpu_us_per_email"] = round(min(cpu) / EMAILS * 1e6, 1)
