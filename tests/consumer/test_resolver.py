"""Name lookups per SMTP connection: one per process and TTL, not one per email.

`loop.create_connection(host=NAME)` looks the name up on every call (asyncio: in the
default executor via `socket.getaddrinfo`; uvloop: in libuv's thread pool, reading
/etc/hosts each time, seen with strace). These tests count `socket.getaddrinfo` calls over
real TCP connections to an aiosmtpd server, with a new connection per email.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

import pytest

from poolbench.consumer.resolver import HostResolver, is_ip_literal
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.settings import ConsumerSettings
from poolbench.errors import TransientSendError
from tests.consumer.smtp_server import Handler, PortZeroController
from tests.consumer.test_sender import FROM, message


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every `socket.getaddrinfo` call (asyncio's loop resolves through it)."""
    calls: list[tuple[Any, ...]] = []
    real = socket.getaddrinfo

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    return calls


def per_email(port: int, host: str = "localhost") -> ConsumerSettings:
    base = ConsumerSettings(smtp_host=host, smtp_port=port, smtp_timeout_s=5.0)
    return replace(base, connection_reuse=False)


async def test_one_lookup_for_many_connections_of_many_senders(
    server: PortZeroController, handler: Handler, lookups: list[tuple[Any, ...]]
) -> None:
    resolver = HostResolver()
    senders = [
        SmtpSender(per_email(server.port), local_hostname="client.test", resolver=resolver)
        for _ in range(3)
    ]
    for n in range(4):
        for sender in senders:
            await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 12
    assert len(handler.connections) == 12  # a new connection per email, as configured
    assert resolver.lookups == 1
    assert len([c for c in lookups if c[0] == "localhost"]) == 1
    assert not [c for c in lookups if not is_ip_literal(str(c[0]))][1:]


async def test_an_ip_literal_is_never_looked_up(
    server: PortZeroController, handler: Handler, lookups: list[tuple[Any, ...]]
) -> None:
    resolver = HostResolver()
    sender = SmtpSender(
        per_email(server.port, host="127.0.0.1"), local_hostname="client.test", resolver=resolver
    )
    for n in range(3):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.received) == 3
    assert resolver.lookups == 0
    assert not [c for c in lookups if not is_ip_literal(str(c[0]))]


async def test_lookup_again_after_the_ttl_and_after_a_failed_connection(
    server: PortZeroController, handler: Handler, unused_port: int
) -> None:
    now = [0.0]
    resolver = HostResolver(ttl_s=10.0, clock=lambda: now[0])
    sender = SmtpSender(per_email(server.port), local_hostname="client.test", resolver=resolver)
    await sender.send(FROM, "bob@example.org", message(1))
    await sender.send(FROM, "bob@example.org", message(2))
    assert resolver.lookups == 1
    now[0] = 11.0
    await sender.send(FROM, "bob@example.org", message(3))
    assert resolver.lookups == 2
    dead = SmtpSender(per_email(unused_port), local_hostname="client.test", resolver=resolver)
    for n in range(2):
        with pytest.raises(TransientSendError):
            await dead.send(FROM, "bob@example.org", message(n))
    assert resolver.lookups == 4  # each refused connection forgets the name's addresses
    assert len(handler.received) == 3


async def test_the_first_address_that_connects_is_tried_first_next_time(
    server: PortZeroController, handler: Handler, unused_port: int
) -> None:
    """A name with a dead address first (as ::1 for a server on 127.0.0.1 only)."""
    resolver = HostResolver()
    port = server.port
    resolver._cache[("mail.test", port)] = (["127.0.0.2", "127.0.0.1"], float("inf"))
    # 127.0.0.2 is loopback too but nothing listens there on this port: refused.
    sender = SmtpSender(per_email(port, host="mail.test"), resolver=resolver)
    await sender.send(FROM, "bob@example.org", message(1))
    assert resolver._cache[("mail.test", port)][0] == ["127.0.0.1", "127.0.0.2"]
    await sender.send(FROM, "bob@example.org", message(2))
    assert len(handler.received) == 2
    assert resolver.lookups == 0


async def test_no_lookup_of_our_own_name_per_connection(
    server: PortZeroController, handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EHLO's name is taken once per sender, never per connection (no getfqdn at all)."""
    calls: list[str] = []
    real_hostname = socket.gethostname

    def gethostname() -> str:
        calls.append("gethostname")
        return real_hostname()

    def getfqdn(name: str = "") -> str:
        calls.append("getfqdn")
        return name or "client.test"

    monkeypatch.setattr(socket, "gethostname", gethostname)
    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    sender = SmtpSender(per_email(server.port, host="127.0.0.1"), resolver=HostResolver())
    assert calls == ["gethostname"]
    for n in range(5):
        await sender.send(FROM, "bob@example.org", message(n))
    assert len(handler.connections) == 5
    assert calls == ["gethostname"]
