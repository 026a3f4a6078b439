"""Real SMTP clients for the sink's tests: aiosmtplib over TCP, counting what they see."""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Callable

import aiosmtplib

from poolbench.sink import SinkServer


def message(message_id: str | None = None, *, intended_ns: int | None = None) -> bytes:
    message_id = message_id or str(uuid.uuid4())
    intended = f"X-Poolbench-Intended-Ns: {intended_ns}\r\n" if intended_ns is not None else ""
    return (
        f"From: a@example.com\r\nTo: b@example.com\r\nSubject: test {message_id}\r\n"
        f"X-Poolbench-Id: {message_id}\r\n{intended}\r\nHello.\r\n"
    ).encode()


def client(sink: SinkServer, **options: object) -> aiosmtplib.SMTP:
    options.setdefault("start_tls", False)
    return aiosmtplib.SMTP(
        hostname=sink.host,
        port=sink.port,
        local_hostname="poolbench-test",
        timeout=30,
        **options,  # type: ignore[arg-type]
    )


async def data_times(
    sink: SinkServer, *, n: int, concurrency: int, stagger: float = 0.0
) -> tuple[dict[str, float], list[float]]:
    """Seconds from the end of each email's content to the sink's reply, by email id, and
    the seconds each RCPT took (a control measured on the same connections).

    A minimal client on raw asyncio streams with persistent connections, so that on a
    busy machine the client's own CPU adds little to what it measures. `stagger` spreads
    the clients' first emails over that many seconds, so that with a fixed delay they do
    not get their replies, and send again, in lockstep bursts.
    """
    times: dict[str, float] = {}
    controls: list[float] = []
    remaining = [n]

    async def expect(reader: asyncio.StreamReader, code: bytes) -> None:
        while True:
            line = await reader.readline()
            if not line.startswith(code):
                raise AssertionError(f"expected {code!r}, got {line!r}")
            if line[3:4] != b"-":
                return

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection(sink.host, sink.port)
        await expect(reader, b"220")
        writer.write(b"EHLO poolbench-test\r\n")
        await expect(reader, b"250")
        await asyncio.sleep(stagger * index / concurrency)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(b"MAIL FROM:<a@example.com>\r\n")
            await expect(reader, b"250")
            # The clock is read before the write: read after it, a client descheduled in
            # between would start late and see a reply earlier than the sink's delay.
            start = time.perf_counter()
            writer.write(b"RCPT TO:<b@example.com>\r\n")
            await expect(reader, b"250")
            controls.append(time.perf_counter() - start)
            writer.write(b"DATA\r\n")
            await expect(reader, b"354")
            email_id = str(uuid.uuid4())
            start = time.perf_counter()
            writer.write(message(email_id) + b".\r\n")
            await expect(reader, b"250")
            times[email_id] = time.perf_counter() - start
        writer.write(b"QUIT\r\n")
        await expect(reader, b"221")
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return times, controls


async def send_counting(
    sink: SinkServer,
    *,
    n: int,
    concurrency: int,
    make: Callable[[int], bytes] = lambda i: message(),
) -> collections.Counter[str]:
    """Send n emails, reconnecting after drops; count outcomes by reply code or 'dropped'."""
    outcomes: collections.Counter[str] = collections.Counter()
    next_index = [0]

    async def worker() -> None:
        smtp: aiosmtplib.SMTP | None = None
        while next_index[0] < n:
            index = next_index[0]
            next_index[0] += 1
            try:
                if smtp is None or not smtp.is_connected:
                    smtp = client(sink)
                    await smtp.connect()
                await smtp.sendmail("a@example.com", ["b@example.com"], make(index))
                outcomes["250"] += 1
            except aiosmtplib.SMTPServerDisconnected:
                outcomes["dropped"] += 1
                if smtp is not None:
                    smtp.close()
                smtp = None
            except aiosmtplib.SMTPResponseException as exc:
                outcomes[str(exc.code)] += 1
                if smtp is not None and smtp.is_connected:
                    await smtp.rset()
        if smtp is not None and smtp.is_connected:
            await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes
