"""One email's way from a Kafka message to the SMTP server or the dead-letter topic.

`Delivery.process(job)` decodes, renders and assembles the email, sends it with one of
the workers' senders, retries transient failures with backoff, holds the job while the
circuit breaker is open, and dead-letters permanent failures; then it reports the job
finished, so the service can mark its offset. Everything runs in the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from confluent_kafka import Message

from poolbench.consumer.dlq import DeadLetterProducer
from poolbench.consumer.failures import FailureLog
from poolbench.consumer.metrics import LiveCounters
from poolbench.consumer.mime import build_message
from poolbench.consumer.offsets import PartitionOffsets, TopicPartitionKey
from poolbench.consumer.retry import Backoff, BreakerState, CircuitBreaker
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.start_gate import StartGate
from poolbench.consumer.templates import TemplateSet
from poolbench.errors import (
    InvalidEventError,
    PermanentSendError,
    TransientSendError,
    UnknownTemplateError,
)
from poolbench.metrics.clock import stamp_ns
from poolbench.pool.lanes import Lane
from poolbench.wire import (
    EMAIL_HEADER_ID,
    EMAIL_HEADER_INTENDED_NS,
    EMAIL_HEADER_STARTED_NS,
    HEADER_ID,
    HEADER_INTENDED_NS,
    decode_event,
)

logger = logging.getLogger(__name__)

# How often a job held by an open breaker looks again whether it may send.
GATE_POLL_S = 0.02
GATE_MAX_SLEEP_S = 0.25


def burn_cpu(seconds: float) -> None:
    """Spin until this thread has used `seconds` of CPU: a known extra cost per email.
    Thread CPU time, not the wall clock, so a preempted spin still costs what it says."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Assignment:
    """One assignment of one partition: its offsets and its running jobs."""

    __slots__ = ("key", "offsets", "running")

    def __init__(self, key: TopicPartitionKey, offsets: PartitionOffsets) -> None:
        self.key = key
        self.offsets = offsets
        self.running = 0

    @property
    def revoked(self) -> bool:
        return self.offsets.detached


class EmailJob:
    """One Kafka message on its way to the SMTP server; the pool runs `execute()`."""

    __slots__ = ("asg", "delivery", "id", "lane", "message", "offset")

    def __init__(
        self,
        delivery: Delivery,
        asg: Assignment,
        message: Message,
        offset: int,
        lane: Lane = Lane.NORMAL,
    ) -> None:
        self.delivery = delivery
        self.asg = asg
        self.message = message
        self.offset = offset
        self.id = offset
        self.lane = lane

    async def execute(self) -> None:
        await self.delivery.process(self)


class Delivery:
    """Sends jobs' emails; one per consumer, shared by all its workers."""

    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        templates: TemplateSet,
        senders: list[SmtpSender],
        breaker: CircuitBreaker,
        backoff: Backoff,
        dlq: DeadLetterProducer,
        counters: LiveCounters,
        observe_latency: Callable[[float], None],
        on_finished: Callable[[EmailJob], None],
        on_breaker_opened: Callable[[], None],
        observe_end_to_end: Callable[[float], None] | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        self._settings = settings
        self._templates = templates
        # A free list, one sender per worker: at most `workers` jobs send at once.
        self._senders = senders
        self._breaker = breaker
        self._backoff = backoff
        self._dlq = dlq
        self.counters = counters
        self._observe_latency = observe_latency
        self._on_finished = on_finished
        self._on_breaker_opened = on_breaker_opened
        self._observe_end_to_end = observe_end_to_end
        self._failures = failures or FailureLog(
            target=f"{settings.smtp_host}:{settings.smtp_port}",
            counts=counters.failures_by_class,
        )
        per_pass = settings.starts_per_pass
        self.start_gate = StartGate(per_pass) if per_pass else None

    async def process(self, job: EmailJob) -> None:
        """Run one job: send it, or dead-letter it, then report it finished."""
        asg = job.asg
        if asg.revoked:
            self.counters.dropped_on_revoke += 1
            return
        asg.running += 1
        try:
            await self._deliver(job)
        finally:
            asg.running -= 1

    def _prepare(self, job: EmailJob) -> tuple[bytes, str, str, int]:
        """Decode, render and assemble: (message bytes, from, to, retries allowed).

        A plain function, so the decoded event and rendered text are freed before the
        send is awaited (a thousand workers would otherwise each hold them).
        """
        message = job.message
        started_ns = stamp_ns()  # CLOCK_MONOTONIC: the sink's and the load's clock
        event = decode_event(message.value())
        rendered = self._templates.render(event)
        extra = {EMAIL_HEADER_STARTED_NS: str(started_ns)}
        headers = message.headers()
        if headers:
            # Read in place: the pairs list _header_pairs builds is only needed for the DLQ.
            for name, raw in headers.items() if isinstance(headers, dict) else headers:
                if raw is None:
                    continue
                if name == HEADER_ID:
                    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                    extra[EMAIL_HEADER_ID] = text
                elif name == HEADER_INTENDED_NS:
                    text = raw if isinstance(raw, str) else raw.decode("ascii", "replace")
                    extra[EMAIL_HEADER_INTENDED_NS] = text
        retries = event.message.max_retries
        return (
            build_message(event, rendered, extra_headers=extra),
            event.message.sender,
            event.message.to,
            self._settings.max_retries if retries is None else retries,
        )

    async def _deliver(self, job: EmailJob) -> None:
        gate = self.start_gate
        if gate is not None and (turn := gate.turn()) is not None:
            await turn
            if job.asg.revoked:
                self.counters.dropped_on_revoke += 1
                return
        try:
            data, mail_from, rcpt_to, retries_left = self._prepare(job)
        except InvalidEventError as exc:
            self.counters.invalid += 1
            await self._dead_letter(job, f"invalid event: {exc}", attempts=0)
            return
        except UnknownTemplateError as exc:
            await self._dead_letter(job, f"unknown template: {exc}", attempts=0)
            return
        attempts = 0
        breaker = self._breaker
        counters = self.counters
        delay = self._settings.debug_delay_s
        burn = self._settings.debug_burn_s
        while True:
            if not breaker.allow() and not await self._wait_for_breaker(job):
                counters.dropped_on_revoke += 1
                return
            if attempts:
                counters.retried += 1
            attempts += 1
            if delay:
                await asyncio.sleep(delay)
            if burn:
                burn_cpu(burn)
            sender = self._senders.pop()
            began = time.perf_counter()
            try:
                await sender.send(mail_from, rcpt_to, data)
            except TransientSendError as exc:
                self._senders.append(sender)
                self._observe_latency(time.perf_counter() - began)
                counters.failed += 1
                breaker.last_cause = self._failures.record(exc, permanent=False)
                breaker.record_transient_failure()
                if breaker.state is BreakerState.OPEN:
                    if counters.breaker_opened != breaker.opened_count:
                        counters.breaker_opened = breaker.opened_count
                        self._on_breaker_opened()
                    # Blamed on the outage, not on this email: it waits for the breaker
                    # without spending a retry, so an outage does not fill the DLQ.
                    continue
                if retries_left <= 0:
                    await self._dead_letter(
                        job, f"transient failure, retries exhausted: {exc}", attempts=attempts
                    )
                    return
                retries_left -= 1
                await asyncio.sleep(self._backoff.delay(attempts - 1))
                if job.asg.revoked:
                    counters.dropped_on_revoke += 1
                    return
                continue
            except PermanentSendError as exc:
                self._senders.append(sender)
                counters.failed += 1
                self._failures.record(exc, permanent=True)
                breaker.record_permanent_failure()
                await self._dead_letter(job, f"permanent failure: {exc}", attempts=attempts)
                return
            except BaseException:
                self._senders.append(sender)
                raise
            self._senders.append(sender)
            self._observe_latency(time.perf_counter() - began)
            breaker.record_success()
            counters.sent += 1
            if self._observe_end_to_end is not None:
                created_ms = job.message.timestamp()[1]
                if created_ms > 0:
                    self._observe_end_to_end(time.time() - created_ms / 1000)
            self._on_finished(job)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("Job completed successfully: %s[%d]@%d", *job.asg.key, job.offset)
            return

    async def _wait_for_breaker(self, job: EmailJob) -> bool:
        """Hold a job while the breaker is open; False if its partition was revoked."""
        breaker = self._breaker
        while not breaker.allow():
            if job.asg.revoked:
                return False
            # Sleep through the cool-down (bounded, to notice a revocation); then poll
            # while another job's probe is out.
            await asyncio.sleep(
                min(GATE_MAX_SLEEP_S, max(GATE_POLL_S, breaker.remaining_cooldown()))
            )
        return True

    async def _dead_letter(self, job: EmailJob, error: str, *, attempts: int) -> None:
        message = job.message
        logger.error(
            "Job failed: %s[%d]@%d -> %s: %s",
            job.asg.key[0],
            job.asg.key[1],
            job.offset,
            self._dlq.topic,
            error,
        )
        await self._dlq.send(
            value=message.value(),
            key=message.key(),
            headers=_header_pairs(message),
            error=error,
            attempts=attempts,
            source_topic=job.asg.key[0],
            source_partition=job.asg.key[1],
            source_offset=job.offset,
        )
        self.counters.dead_lettered += 1
        if attempts:  # it was sent and failed for good, not an unusable event
            self.counters.undeliverable += 1
        self._on_finished(job)


def _header_pairs(message: Message) -> list[tuple[str, bytes | None]]:
    """A message's headers as (name, bytes) pairs; the client may give str values."""
    headers = message.headers()
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in items]
