"""A plain Python email consumer, as a user might write one: a poolbench foreign consumer.

confluent-kafka with librdkafka's defaults (nothing tuned for poolbench), smtplib, and a
thread pool. Each polled email goes to a free worker at once; its offset is stored for
librdkafka's auto-commit once every earlier email of its partition is sent (at least
once). `--mark` says what it carries into each email for poolbench to match it:
- `headers`: copies `poolbench-id` / `poolbench-intended-ns` into `X-Poolbench-Id` /
  `X-Poolbench-Intended-Ns` and stamps `X-Poolbench-Started-Ns` (end-to-end, wait and
  service latency);
- `subject`: no header; the event's subject, which ends with its `message.id` (poolbench
  finds it there and reads the intended time back from the topic: end-to-end latency,
  no service time);
- `none`: no header and no id anywhere, not even the event's data, which holds it
  (poolbench cannot match the email: one error saying what to add).

    python consumer.py --bootstrap HOST:PORT --topic T --group G \
        --smtp-host 127.0.0.1 --smtp-port 2525 --workers 4 --mark headers
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import smtplib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

from confluent_kafka import Consumer, TopicPartition


def _header(message: Any, key: str) -> str | None:
    for name, value in message.headers() or ():
        if name == key and value is not None:
            return str(value.decode())
    return None


class Sender:
    """One SMTP connection per worker thread, reopened after a failure."""

    def __init__(self, host: str, port: int, mark: str) -> None:
        self.host, self.port, self.mark = host, port, mark
        self.local = threading.local()

    def send(self, message: Any) -> None:
        started_ns = time.monotonic_ns()  # CLOCK_MONOTONIC: poolbench's clock
        event = json.loads(message.value())["message"]
        email = EmailMessage()
        email["From"] = event["from"]
        email["To"] = event["to"]
        # poolbench's events carry their id in the subject ("Welcome [ID]"): `none` drops it.
        subject = event.get("subject") or "(no subject)"
        email["Subject"] = subject.split(" [")[0] if self.mark == "none" else subject
        if self.mark == "headers":
            email["X-Poolbench-Id"] = _header(message, "poolbench-id") or event["id"]
            email["X-Poolbench-Intended-Ns"] = _header(message, "poolbench-intended-ns") or ""
            email["X-Poolbench-Started-Ns"] = str(started_ns)
        # The event's data holds its id too (a link, say): `none` leaves it out.
        data = {} if self.mark == "none" else event.get("data") or {}
        email.set_content(json.dumps(data))
        for attempt in range(3):
            try:
                self._smtp().send_message(email)
            except (OSError, smtplib.SMTPException) as exc:
                self.local.smtp = None
                print(f"send failed (attempt {attempt + 1}): {exc}", file=sys.stderr, flush=True)
            else:
                return

    def _smtp(self) -> smtplib.SMTP:
        smtp = getattr(self.local, "smtp", None)
        if smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=10)
            self.local.smtp = smtp
        return smtp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--mark", choices=("headers", "subject", "none"), default="headers")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            # At least once, librdkafka's way: an offset is stored once every email before
            # it in its partition is sent, and committed by the background auto-commit.
            "enable.auto.offset.store": False,
        }
    )
    consumer.subscribe(
        [args.topic],
        on_assign=lambda _c, parts: print(f"assigned {len(parts)} partition(s)", flush=True),
    )
    sender = Sender(args.smtp_host, args.smtp_port, args.mark)
    free = threading.Semaphore(args.workers)
    in_flight: dict[int, set[int]] = {}
    done: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()

    def work(message: Any, partition: int, offset: int) -> None:
        try:
            sender.send(message)
        finally:
            done.put((partition, offset))
            free.release()

    def store_done() -> None:
        while not done.empty():
            partition, offset = done.get()
            pending = in_flight[partition]
            pending.discard(offset)
            upto = min(pending) if pending else offset + 1
            if upto > offset:
                consumer.store_offsets(offsets=[TopicPartition(args.topic, partition, upto)])

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        while not stop.is_set():
            store_done()
            if not free.acquire(timeout=0.5):
                continue
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                free.release()
                if message is not None:
                    print(f"kafka: {message.error()}", file=sys.stderr, flush=True)
                continue
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # a message, not an error
            in_flight.setdefault(partition, set()).add(offset)
            pool.submit(work, message, partition, offset)
    store_done()
    consumer.close()  # commits the stored offsets
    return 0


if __name__ == "__main__":
    sys.exit(main())
