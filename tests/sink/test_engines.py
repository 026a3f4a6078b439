"""Behaviour both engines must share, over raw sockets: pipelining, malformed SMTP,
per-step stamps, receipts_since, pids and memory with many open connections."""

from __future__ import annotations

import os
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil
import pytest

from poolbench.sink import SinkServer, parse_latency
from tests.sink.clients import message

Factory = Callable[..., SinkServer]


class Raw:
    """A bare SMTP client on a socket: send bytes, read whole replies."""

    def __init__(self, sink: SinkServer) -> None:
        self.sock = socket.create_connection((sink.host, sink.port), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One reply (all lines of a multi-line one); the last line's text."""
        while True:
            end = self.buffer.find(b"\r\n")
            while end < 0:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed; unread {self.buffer!r}")
                self.buffer += chunk
                end = self.buffer.find(b"\r\n")
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            if line[3:4] != b"-":
                return line

    def code(self) -> int:
        return int(self.reply()[:3])

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw(sink: SinkServer, *, ehlo: bool = True) -> Iterator[Raw]:
    client = Raw(sink)
    try:
        assert client.code() == 220
        if ehlo:
            client.send(b"EHLO test\r\n")
            assert client.code() == 250
        yield client
    finally:
        client.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_pipelined_commands_are_answered_in_order(sink_factory: Factory) -> None:
    sink = sink_factory()
    with raw(sink) as client:
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        assert [client.code(), client.code(), client.code()] == [250, 250, 354]
        client.send(message("pipe-1") + b".\r\nMAIL FROM:<a@x>\r\nRSET\r\nNOOP\r\n")
        assert [client.code(), client.code(), client.code(), client.code()] == [
            250,
            250,
            250,
            250,
        ]
    _wait(lambda: sink.counters().received == 1, "the receipt")
    assert [r.id for r in sink.receipts()] == ["pipe-1"]


def test_bare_lf_ends_command_lines_in_both_engines(sink_factory: Factory) -> None:
    sink = sink_factory()
    with raw(sink, ehlo=False) as client:
        client.send(b"EHLO test\nMAIL FROM:<a@x>\nRCPT TO:<b@y>\nDATA\n")
        assert [client.code(), client.code(), client.code(), client.code()] == [
            250,
            250,
            250,
            354,
        ]
        # Data lines end at CRLF only: a bare LF stays inside the content.
        client.send(b"X-Poolbench-Id: lf-1\r\n\r\na\nb\r\n.\r\n")
        assert client.code() == 250
    _wait(lambda: sink.counters().received == 1, "the receipt")
    (receipt,) = sink.receipts()
    assert receipt.id == "lf-1"
    assert receipt.size == len(b"X-Poolbench-Id: lf-1\r\n\r\na\nb\r\n")


def test_overlong_command_line_gets_500_and_the_session_goes_on(sink_factory: Factory) -> None:
    sink = sink_factory()
    with raw(sink) as client:
        client.send(b"NOOP " + b"x" * 600 + b"\r\n")
        assert client.code() == 500
        client.send(b"MAIL FROM:<" + b"a" * 3000 + b"@x>\r\n")
        assert client.code() == 500
        client.send(b"NOOP\r\n")
        assert client.code() == 250


def test_commands_out_of_order_get_503(sink_factory: Factory) -> None:
    sink = sink_factory()
    with raw(sink) as client:
        client.send(b"DATA\r\n")
        assert client.code() == 503
        client.send(b"RCPT TO:<b@y>\r\n")
        assert client.code() == 503
        client.send(b"MAIL FROM:<a@x>\r\n")
        assert client.code() == 250
        client.send(b"DATA\r\n")
        assert client.code() == 503
        client.send(b"MAIL FROM:<a@x>\r\n")
        assert client.code() == 503  # nested MAIL
    with raw(sink, ehlo=False) as client:
        client.send(b"MAIL FROM:<a@x>\r\n")
        assert client.code() == 503  # no EHLO yet
    assert sink.counters().received == 0


def _rss(sink: SinkServer) -> int:
    (pid,) = sink.pids()
    return int(psutil.Process(pid).memory_info().rss)


@pytest.mark.parametrize("where", ["command", "data"])
def test_a_10mb_line_is_refused_with_bounded_memory(sink_factory: Factory, where: str) -> None:
    sink = sink_factory(isolated=True)
    before = _rss(sink)
    chunk = b"x" * 65536
    with raw(sink) as client:
        if where == "data":
            client.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
            assert [client.code(), client.code(), client.code()] == [250, 250, 354]
        for _ in range(160):  # 10 MiB without a line end
            client.send(chunk)
        client.send(b"\r\n.\r\n" if where == "data" else b"\r\n")
        assert client.code() == 500
        grown = _rss(sink) - before
        client.send(b"NOOP\r\n")
        assert client.code() == 250
    # The line was never buffered whole (a generous bound: 10 MiB went through).
    assert grown < 6 * 2**20, grown
    assert sink.counters().received == 0


def test_a_client_vanishing_mid_data_leaves_no_receipt_and_others_unharmed(
    sink_factory: Factory,
) -> None:
    sink = sink_factory()
    gone = Raw(sink)
    assert gone.code() == 220
    gone.send(b"EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
    assert [gone.code() for _ in range(4)] == [250, 250, 250, 354]
    with raw(sink) as other:
        gone.send(message("lost-1")[:30])
        gone.close()
        other.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
        assert [other.code(), other.code(), other.code()] == [250, 250, 354]
        other.send(message("kept-1") + b".\r\n")
        assert other.code() == 250
        _wait(lambda: sink.counters().connections_open == 1, "the vanished client's close")
    _wait(lambda: sink.counters().connections_open == 0, "both closes")
    assert [r.id for r in sink.receipts()] == ["kept-1"]


def test_an_injected_delay_is_never_short(sink_factory: Factory) -> None:
    # uvloop's timers run from the loop's cached clock and may fire early; a sink whose
    # delay came out short would make every latency read better than the truth.
    sink = sink_factory(command_latency={"MAIL": parse_latency("3ms")})
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        for n in range(60):
            smtp.sendmail("a@x", ["b@y"], message(f"d-{n}"))
    _wait(lambda: sink.counters().received == 60, "sixty receipts")
    waits = [r.steps.mail_reply_ns - r.steps.mail_ns for r in sink.receipts() if r.steps]
    assert len(waits) == 60
    assert min(waits) >= 3_000_000


def test_steps_are_ordered_and_carry_the_injected_delays(sink_factory: Factory) -> None:
    sink = sink_factory(
        command_latency={
            "greeting": parse_latency("15ms"),
            "MAIL": parse_latency("20ms"),
            "RCPT": parse_latency("5ms"),
        },
        latency=parse_latency("30ms"),
    )
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        smtp.sendmail("a@x", ["b@y"], message("s-1"))
        smtp.sendmail("a@x", ["b@y"], message("s-2"))
    _wait(lambda: sink.counters().received == 2, "two receipts")
    first, second = sorted(sink.receipts(), key=lambda r: r.received_ns)
    assert first.steps is not None and second.steps is not None
    steps = first.steps
    assert steps.connected_ns is not None
    assert steps.greeting_ns is not None
    assert steps.ready_ns is not None
    order = [
        steps.connected_ns,
        steps.greeting_ns,
        steps.ready_ns,
        steps.mail_ns,
        steps.mail_reply_ns,
        steps.rcpt_ns,
        steps.rcpt_reply_ns,
        steps.data_ns,
        steps.data_reply_ns,
        steps.eod_ns,
        first.received_ns,
    ]
    assert order == sorted(order)
    assert steps.greeting_ns - steps.connected_ns >= 15_000_000
    assert steps.mail_reply_ns - steps.mail_ns >= 20_000_000
    assert first.received_ns - steps.eod_ns >= 30_000_000
    assert steps.delay_ns == pytest.approx(55_000_000, abs=1_000)
    assert steps.handshake_delay_ns == pytest.approx(15_000_000, abs=1_000)
    later = second.steps
    assert (later.connected_ns, later.greeting_ns, later.ready_ns) == (None, None, None)
    assert later.handshake_delay_ns == 0
    assert later.delay_ns == pytest.approx(55_000_000, abs=1_000)
    assert first.received_ns <= later.mail_ns


def test_steps_survive_the_process_backend(sink_factory: Factory) -> None:
    sink = sink_factory(isolated=True)
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        smtp.sendmail("a@x", ["b@y"], message("p-1"))
    _wait(lambda: sink.counters().received == 1, "the receipt")
    (receipt,) = sink.receipts()
    assert receipt.steps is not None
    assert receipt.steps.connected_ns is not None
    assert receipt.steps.eod_ns <= receipt.received_ns


def test_receipts_since_returns_only_the_new_ones(sink_factory: Factory) -> None:
    sink = sink_factory()
    with smtplib.SMTP(sink.host, sink.port, local_hostname="t") as smtp:
        for i in range(5):
            smtp.sendmail("a@x", ["b@y"], message(f"r-{i}"))
        _wait(lambda: sink.counters().received == 5, "five receipts")
        assert [r.id for r in sink.receipts_since(0)] == [f"r-{i}" for i in range(5)]
        for i in range(5, 8):
            smtp.sendmail("a@x", ["b@y"], message(f"r-{i}"))
    _wait(lambda: sink.counters().received == 8, "eight receipts")
    assert [r.id for r in sink.receipts_since(5)] == ["r-5", "r-6", "r-7"]
    assert sink.receipts_since(8) == []
    assert len(sink.receipts()) == 8
    with pytest.raises(ValueError, match="negative"):
        sink.receipts_since(-1)


def test_pids_name_the_serving_processes(sink_factory: Factory) -> None:
    assert sink_factory().pids() == [os.getpid()]
    (child,) = sink_factory(isolated=True).pids()
    assert child != os.getpid()
    assert psutil.Process(child).is_running()


def test_memory_with_1000_open_connections_is_bounded(sink_factory: Factory) -> None:
    n = 1000
    soft, _ = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
    if soft < n + 100:
        pytest.skip(f"needs {n + 100} open files, the limit is {soft}")
    sink = sink_factory(isolated=True)
    before = _rss(sink)
    clients: list[socket.socket] = []
    try:
        for _ in range(n):
            clients.append(socket.create_connection((sink.host, sink.port), timeout=30))
        for sock in clients:
            sock.sendall(b"EHLO many\r\n")
        _wait(lambda: sink.counters().connections_open == n, f"{n} open connections")
        for sock in clients:
            data = b""
            while b"250 HELP" not in data:
                chunk = sock.recv(4096)
                assert chunk, "closed early"
                data += chunk
        rss = _rss(sink)
    finally:
        for sock in clients:
            sock.close()
    print(f"\nRSS with {n} open connections: {rss / 2**20:.1f} MiB (idle {before / 2**20:.1f})")
    assert rss < 150 * 2**20  # generous: the goal for the fast engine is 60 MB
    assert rss - before < 100 * 2**20


def test_an_idle_connection_is_closed_after_the_timeout(sink_factory: Factory) -> None:
    sink = sink_factory(timeout=0.3)
    with raw(sink) as client:
        _wait(lambda: sink.counters().connections_open == 1, "the connection")
        _wait(lambda: sink.counters().connections_open == 0, "the idle close")
        client.sock.settimeout(5)
        with pytest.raises(ConnectionError):
            while True:
                client.reply()  # whatever the goodbye, the socket then ends
