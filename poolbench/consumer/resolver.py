"""The SMTP server's addresses, looked up once and shared by every sender of a process.

Given a host name, `loop.create_connection` looks it up on every call: on uvloop in
libuv's thread pool, on asyncio's loop in the default executor (both read /etc/hosts or
ask DNS each time). With a new connection per email that is one lookup and one thread
hand-off per email. `HostResolver` looks a name up once per `ttl_s` (one lookup in flight,
however many senders ask at once) and hands out IP literals, which both loops connect to
without any lookup. An IP literal is returned as it is. A failed connection forgets the
name's addresses (`forget`), so a moved server is found again at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Final

# How long looked-up addresses are reused: a DNS change is followed within this.
RESOLVE_TTL_S: Final = 60.0


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostResolver:
    """A small cache of name -> addresses (IP literals, in the resolver's order)."""

    def __init__(
        self, ttl_s: float = RESOLVE_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[tuple[str, int], tuple[list[str], float]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self.lookups = 0  # how many lookups were made (for tests and diagnostics)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses to try in order; raises `OSError` (socket.gaierror)."""
        if is_ip_literal(host):
            return [host]
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is loop and not pending.done():
            return await asyncio.shield(pending)
        future: asyncio.Future[list[str]] = loop.create_future()
        self._pending[key] = future
        try:
            self.lookups += 1
            found = await _lookup(loop, host, port)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters get it from their own await
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        self._cache[key] = (found, self._clock() + self._ttl_s)
        future.set_result(found)
        return found

    def prefer(self, host: str, port: int, address: str) -> None:
        """Try `address` first from now on (it connected)."""
        cached = self._cache.get((host, port))
        if cached is not None and cached[0] and cached[0][0] != address and address in cached[0]:
            rest = [a for a in cached[0] if a != address]
            self._cache[(host, port)] = ([address, *rest], cached[1])

    def forget(self, host: str, port: int) -> None:
        """Look the name up again next time (a connection to it failed)."""
        self._cache.pop((host, port), None)


async def _lookup(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise socket.gaierror(f"no address for {host!r}")
    return found


# One per process: the senders of a consumer share it (one lookup, not one per worker).
SHARED: Final = HostResolver()
