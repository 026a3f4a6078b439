"""Load for the sink benchmarks, each piece in its own process so it has its own CPU.

python -m benchmarks.sink_load send --port P --senders N --duration S --warmup S
    [--new-connections]:
    N persistent connections (or a new one per email) on raw asyncio streams (no SMTP
    library, so the client costs little); prints {"emails": accepted in the window,
    "seconds": window, "cpu_seconds": this process's CPU}.
python -m benchmarks.sink_load plain --latency S
    The plain baseline the sink wraps: aiosmtpd with a handler that only (optionally)
    sleeps and answers 250; prints its port, serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


async def _expect(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code!r}, got {line!r}")
        if line[3:4] != b"-":
            return


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection(host, port)
    await _expect(reader, b"220")
    writer.write(b"EHLO load\r\n")
    await _expect(reader, b"250")
    return reader, writer


async def _send(
    host: str, port: int, senders: int, duration: float, warmup: float, *, new: bool = False
) -> int:
    connections = [await _open(host, port) for _ in range(senders)]
    start = time.monotonic() + warmup
    end = start + duration
    counted = [0]

    async def sender(index: int, reader: asyncio.StreamReader, writer: Any) -> None:
        number = 0
        while time.monotonic() < end:
            number += 1
            if new and number > 1:  # a new connection per email (the first is open)
                writer.write(b"QUIT\r\n")
                await _expect(reader, b"221")
                writer.close()
                reader, writer = await _open(host, port)
            writer.write(b"MAIL FROM:<a@example.com>\r\n")
            await _expect(reader, b"250")
            writer.write(b"RCPT TO:<b@example.com>\r\n")
            await _expect(reader, b"250")
            writer.write(b"DATA\r\n")
            await _expect(reader, b"354")
            writer.write(
                b"X-Poolbench-Id: %d-%d\r\nSubject: load\r\n\r\nHello.\r\n.\r\n" % (index, number)
            )
            await _expect(reader, b"250")
            if start <= time.monotonic() < end:
                counted[0] += 1
        writer.close()

    await asyncio.gather(*(sender(i, r, w) for i, (r, w) in enumerate(connections)))
    return counted[0]


def _plain(latency: float) -> None:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if latency > 0:
                await asyncio.sleep(latency)
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Handler()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="plain"), "127.0.0.1", 0, backlog=4096
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
        server.close()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, required=True)
    send.add_argument("--senders", type=int, default=8)
    send.add_argument("--duration", type=float, default=3.0)
    send.add_argument("--warmup", type=float, default=0.5)
    send.add_argument("--new-connections", action="store_true")
    plain = sub.add_parser("plain")
    plain.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    if args.command == "plain":
        _plain(args.latency)
        return
    emails = asyncio.run(
        _send(
            args.host,
            args.port,
            args.senders,
            args.duration,
            args.warmup,
            new=args.new_connections,
        )
    )
    print(
        json.dumps({"emails": emails, "seconds": args.duration, "cpu_seconds": time.process_time()})
    )


if __name__ == "__main__":
    main()
