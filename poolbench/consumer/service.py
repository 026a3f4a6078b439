"""The pooled email consumer: Kafka -> worker pool -> SMTP, at least once.

`ConsumerService.run()` wires the parts: a `KafkaPoller` thread fetches batches and hands
them to this event loop; each message becomes an `EmailJob` for the `WorkerPool`; a job
decodes, renders, builds and sends its email (delivery.py: retries, breaker gate, dead
letters), then marks its offset finished in the `OffsetTracker`,
whose commit positions are committed every `commit_interval_s`, on revocation and on
shutdown. Everything but the poll thread (and the DLQ's delivery-report thread) runs in
the event loop thread, so the tracker, counters and breaker need no locks.

Backpressure: a message that finds no room in the pool waits in a small local overflow
(never dropped) and the poller fetches nothing more until the overflow has drained (see
poller.py: it pauses the partitions if that lasts). The circuit breaker pauses fetching
while it is not closed, and jobs that reach a worker meanwhile wait at its gate without
sending.

Why one module of ~550 lines: `ConsumerService` is the one owner of the state its
callbacks share in the loop thread (the offset tracker, the overflow, the counters, the
pause decision); split up, each part would need that state handed to it and the lock-free
rule above would no longer be visible in one place. The parts with state of their own
(poller, pool, delivery, breaker, metrics) are modules already.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import signal
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Message

try:
    import uvloop

    _loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
except ImportError:  # optional at run time: without it the consumer runs on asyncio's loop
    _loop_factory = asyncio.new_event_loop

from poolbench.consumer.delivery import Assignment, Delivery, EmailJob
from poolbench.consumer.dlq import DeadLetterProducer
from poolbench.consumer.gate_metrics import register_start_gate
from poolbench.consumer.gc_tuning import freeze_startup_heap
from poolbench.consumer.health import BEAT_INTERVAL_S, Health
from poolbench.consumer.kafka_tuning import kafka_tuning
from poolbench.consumer.lag_metrics import register_loop_lag
from poolbench.consumer.lanes import LaneBacklog, lane_of_value
from poolbench.consumer.metrics import (
    ConsumerCounters,
    ConsumerMetrics,
    GaugeValues,
    LiveCounters,
    snapshot,
)
from poolbench.consumer.offsets import OffsetTracker, TopicPartitionKey
from poolbench.consumer.poller import KafkaPoller
from poolbench.consumer.retry import Backoff, BreakerState, CircuitBreaker
from poolbench.consumer.sender import SmtpSender
from poolbench.consumer.settings import ConsumerSettings
from poolbench.consumer.start_gate import StartGate
from poolbench.consumer.templates import TemplateSet
from poolbench.errors import ConfigError
from poolbench.metrics.clock import Clock, SystemClock
from poolbench.metrics.loop_lag import LoopLagProbe
from poolbench.pool import Result, WorkerPool
from poolbench.pool.lanes import Lane, LaneConfig

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 0.05
MAX_BATCH = 500
# With priority lanes: jobs read ahead into the lanes' backlog, at least this many.
LANE_READ_AHEAD_MIN = 1000
DEFAULT_CONNECT_TIMEOUT_S = 10.0


class ConsumerService:
    """The consumer under test; `await run()` until `request_stop()` (or `max_events`)."""

    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        kafka_config: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        max_events: int | None = None,
        on_ready: Callable[[], None] | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._kafka_config = dict(kafka_config or {})
        self._max_events = max_events
        self._on_ready = on_ready
        self._connect_timeout_s = connect_timeout_s
        self.counters = LiveCounters()
        self.metrics = ConsumerMetrics(self.counters)
        # How late the loop runs a due callback: the workers' wait for their turn.
        self.loop_lag = LoopLagProbe()
        register_loop_lag(self.metrics.registry, self.loop_lag)
        self.metrics_port: int | None = None
        self.health = Health(
            stall_s=settings.health_stall_s,
            breaker_limit_s=settings.breaker_unready_s,
            clock=self._clock,
        )
        self.templates = TemplateSet.load(settings.templates_dir)
        self._tracker = OffsetTracker()
        self._assignments: dict[TopicPartitionKey, Assignment] = {}
        self._overflow: deque[EmailJob] = deque()
        # Priority lanes: jobs whose lane is full wait in their lane's backlog, and the
        # poller reads ahead while the backlog holds fewer than `_backlog_limit` jobs, so a
        # high-priority email overtakes the low ones fetched before it (lanes can only
        # reorder what was fetched: the read-ahead is what makes them work). Offsets are
        # still committed only when contiguous: what a kill redelivers is bounded by that
        # limit plus the pool's buffer and workers; nothing is lost.
        self._backlog: LaneBacklog[EmailJob] | None = (
            LaneBacklog() if settings.priority_lanes else None
        )
        self._backlog_limit = max(LANE_READ_AHEAD_MIN, 10 * (settings.workers + settings.buffer))
        self._full_episode = False
        self._breaker = CircuitBreaker(
            settings.breaker_threshold, settings.breaker_cooldown_s, self._clock
        )
        self._backoff = Backoff(
            settings.retry_base_s, settings.retry_max_s, rng if rng is not None else random.Random()
        )
        self._senders: list[SmtpSender] = []
        self._pool: WorkerPool | None = None
        self._poller: KafkaPoller | None = None
        self._dlq: DeadLetterProducer | None = None
        self._delivery: Delivery | None = None
        # After `_delivery`: the registry reads its collectors once when they register.
        register_start_gate(self.metrics.registry, lambda: self.start_gate)
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._stopping = False
        self._ready = False
        self._pool_started = False
        self._started_at = 0.0
        self._observe_queue_wait = self.metrics.queue_wait.observe
        # Active time (events in flight), for the summary's rate.
        self._active_s = 0.0
        self._busy_since: float | None = None

    # ---- public -----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (call in the loop thread, e.g. from a signal handler)."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    @property
    def start_gate(self) -> StartGate | None:
        """The gate new emails pass (None before `run()` or with `starts_per_pass` 0)."""
        return None if self._delivery is None else self._delivery.start_gate

    @property
    def finished(self) -> int:
        return self.counters.sent + self.counters.dead_lettered

    def snapshot(self, *, timed_out: bool = False) -> ConsumerCounters:
        lag = self.loop_lag.summary()
        return dataclasses.replace(
            self._snapshot(timed_out=timed_out), loop_lag=None if lag is None else lag.as_dict()
        )

    def _snapshot(self, *, timed_out: bool) -> ConsumerCounters:
        return snapshot(
            self.counters,
            finished_uncommitted=max(0, self._tracker.uncommittable - self._tracker.unfinished),
            elapsed_s=self._clock.monotonic() - self._started_at if self._started_at else 0.0,
            active_s=self._active_s
            + (0.0 if self._busy_since is None else self._clock.monotonic() - self._busy_since),
            timed_out=timed_out,
        )

    def kafka_config(self) -> dict[str, Any]:
        s = self.settings
        return {
            **kafka_tuning(),
            "bootstrap.servers": s.kafka_brokers,
            "group.id": s.kafka_group,
            "client.id": "poolbench-consumer",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # An email queue: a new group starts at the oldest event, not the newest.
            "auto.offset.reset": "earliest",
            # Prefetch at most 1 MiB per partition (8 MiB for 8; a second of work at
            # 6k emails/s): the pool holds the real buffer, and a deeper local queue only
            # inflates memory.
            "queued.max.messages.kbytes": 1024,
            "logger": logging.getLogger("poolbench.consumer.kafka"),
            **self._kafka_config,
        }

    async def run(self) -> ConsumerCounters:
        """Consume until asked to stop; returns the final counters.

        Raises `UnreachableError` when the broker does not answer within the connect
        timeout. `ConsumerCounters.timed_out` says whether the shutdown had to abandon work.
        """
        s = self.settings
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        self._started_at = self._clock.monotonic()
        self.loop_lag.start()
        if s.metrics_port:
            # First: a taken port fails before Kafka is contacted, and long before
            # "consumer ready" (which means every port is bound).
            self.metrics_port = self._serve_metrics(s.metrics_port, s.metrics_host)
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        batch = max(16, min(MAX_BATCH, s.workers + s.buffer))
        poller = KafkaPoller(
            self.kafka_config(),
            s.kafka_topic,
            self,
            loop,
            batch_size=batch,
            revoke_timeout_s=min(s.shutdown_timeout_s, 10.0),
        )
        try:
            await asyncio.to_thread(poller.connect, self._connect_timeout_s)
        except BaseException:
            heartbeat.cancel()
            self.metrics.close()
            raise
        self._poller = poller
        timed_out = True
        try:
            self._dlq = DeadLetterProducer(
                s.kafka_brokers, s.dlq_topic, config={"logger": self.kafka_config()["logger"]}
            )
            self._senders = [SmtpSender(s) for _ in range(s.workers)]
            self._delivery = Delivery(
                s,
                templates=self.templates,
                senders=list(self._senders),
                breaker=self._breaker,
                backoff=self._backoff,
                dlq=self._dlq,
                counters=self.counters,
                observe_latency=self.metrics.send_latency.observe,
                on_finished=self._finish,
                on_breaker_opened=self._update_pause,
                observe_end_to_end=self.metrics.end_to_end.observe,
            )
            pool = WorkerPool(
                s.workers,
                s.buffer,
                on_result=self._on_result,
                name="email",
                lanes=LaneConfig(weights=s.lane_weights) if s.priority_lanes else None,
            )
            self._pool = pool
            await pool.start()
            self._pool_started = True
            freeze_startup_heap()  # before the first email: no full GC walks start-up
            poller.start()
            await self._housekeeping()
            timed_out = await self._shutdown()
        finally:
            heartbeat.cancel()
            await self._release(poller)
        counters = self.snapshot(timed_out=timed_out)
        logger.info("consumer stopped: %s", counters.summary_line())
        return counters

    # ---- the loop side of the poller (KafkaPoller's handler) -----------------------------

    def on_assigned(self, keys: list[TopicPartitionKey]) -> None:
        for key in keys:
            self._assignments[key] = Assignment(key, self._tracker.assign(key))
        if not self._ready:
            self._ready = True
            logger.info("consumer ready: %d partition(s) assigned", len(keys))
            if self._on_ready is not None:
                self._on_ready()

    def on_messages(self, messages: list[Message]) -> bool:
        """Dispatch a batch; False when some had to wait in the overflow (fetch no more)."""
        if self._stopping:
            return False  # not dispatched, not committed: read again by the next owner
        pool = self._pool
        assert pool is not None
        counters = self.counters
        overflow = self._overflow
        assignments = self._assignments
        delivery = self._delivery
        assert delivery is not None
        if self._busy_since is None:
            self._busy_since = self._clock.monotonic()  # idle until now: active again
        for message in messages:
            key: TopicPartitionKey = (message.topic() or "", message.partition() or 0)
            offset = message.offset() or 0
            asg = assignments.get(key)
            if asg is None:
                asg = assignments[key] = Assignment(key, self._tracker.assign(key))
            try:
                asg.offsets.dispatch(offset)
            except ValueError:
                logger.warning("skipping %s[%d]@%d: offset already seen", *key, offset)
                continue
            counters.consumed += 1
            job = EmailJob(delivery, asg, message, offset)
            backlog = self._backlog
            if backlog is not None:
                lane = job.lane = lane_of_value(message.value())
                if backlog.waiting(lane) or not pool.has_room_for(lane):
                    backlog.add(lane, job)
                else:
                    pool.submit_nowait(job, lane=lane)
            elif overflow or not pool.has_room:
                overflow.append(job)
            else:
                pool.submit_nowait(job)
        if self._backlog is not None and len(self._backlog) < self._backlog_limit:
            return True
        if not overflow and self._backlog is None:
            return True
        if not self._full_episode:
            # One line per episode: it ends when the pool's queue has emptied.
            self._full_episode = True
            logger.warning(
                "Worker pool job queue is full; holding back fetching (%d waiting)",
                len(overflow),
            )
        return False

    async def on_revoked(
        self, keys: list[TopicPartitionKey], *, lost: bool
    ) -> dict[TopicPartitionKey, int]:
        """Drop the partitions' jobs not started, wait (bounded) for running ones."""
        revoked: list[Assignment] = []
        for key in keys:
            asg = self._assignments.pop(key, None)
            self._tracker.revoke(key)
            if asg is not None:
                revoked.append(asg)
        if not revoked:
            return {}
        # Filtered in place: the shutdown may hold a reference to the same deque.
        kept = [job for job in self._overflow if not job.asg.revoked]
        self.counters.dropped_on_revoke += len(self._overflow) - len(kept)
        self._overflow.clear()
        self._overflow.extend(kept)
        if self._backlog is not None:
            self.counters.dropped_on_revoke += self._backlog.remove_if(lambda j: j.asg.revoked)
        if not self._overflow and self._poller is not None:
            self._poller.more_wanted()
        deadline = self._clock.monotonic() + min(self.settings.shutdown_timeout_s, 10.0)
        # A short poll: revocations are rare, and the running jobs are few.
        while any(a.running for a in revoked) and self._clock.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if lost:
            return {}
        positions: dict[TopicPartitionKey, int] = {}
        for asg in revoked:
            position = asg.offsets.position
            if position is not None:
                positions[asg.key] = position
        return positions

    # ---- finished events ---------------------------------------------------------------

    def _finish(self, job: EmailJob) -> None:
        job.asg.offsets.finish(job.offset)
        counters = self.counters
        if counters.sent + counters.dead_lettered >= counters.consumed - counters.dropped_on_revoke:
            self._went_idle()
        if self._max_events is not None and self.finished >= self._max_events:
            self.request_stop()

    # ---- backpressure --------------------------------------------------------------------

    def _on_result(self, result: Result) -> None:
        self._observe_queue_wait(result.queue_wait_s)
        if result.error is not None and not result.cancelled:
            logger.error("Job failed: %r", result.error)
        if self._overflow:
            self._drain_overflow()
        elif self._backlog:
            self._drain_backlog()

    def _drain_backlog(self) -> None:
        pool, backlog = self._pool, self._backlog
        assert pool is not None and backlog is not None
        was_full = len(backlog) >= self._backlog_limit

        def submit(job: EmailJob, lane: Lane) -> None:
            if job.asg.revoked:
                self.counters.dropped_on_revoke += 1
            else:
                pool.submit_nowait(job, lane=lane)

        backlog.drain(pool.has_room_for, submit)
        if was_full and len(backlog) < self._backlog_limit and self._poller is not None:
            self._poller.more_wanted()

    def _drain_overflow(self) -> None:
        pool = self._pool
        assert pool is not None
        overflow = self._overflow
        while overflow and pool.has_room:
            job = overflow.popleft()
            if job.asg.revoked:
                self.counters.dropped_on_revoke += 1
                continue
            pool.submit_nowait(job)
        if not overflow and self._poller is not None:
            self._poller.more_wanted()

    def _went_idle(self) -> None:
        if self._busy_since is not None:
            self._active_s += self._clock.monotonic() - self._busy_since
            self._busy_since = None

    def _update_pause(self) -> None:
        if self._poller is not None:
            self._poller.want_pause = self._breaker.state is not BreakerState.CLOSED

    # ---- housekeeping, shutdown ------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Commit, refresh gauges and pause state until a stop is requested."""
        assert self._stop_event is not None and self._pool is not None
        next_commit = self._clock.monotonic() + self.settings.commit_interval_s
        while not self._stop_event.is_set():
            try:
                async with asyncio.timeout(HOUSEKEEPING_INTERVAL_S):
                    await self._stop_event.wait()
            except TimeoutError:
                pass
            self._update_pause()
            self._refresh_gauges()
            if self._full_episode and not self._overflow and self._pool.stats.queued == 0:
                self._full_episode = False
            now = self._clock.monotonic()
            if now >= next_commit:
                next_commit = now + self.settings.commit_interval_s
                self._commit()

    async def _heartbeat(self) -> None:
        """Tell /healthz and /readyz (health.py) the loop is alive, and how it fares."""
        while True:
            self.health.beat(
                partitions=len(self._assignments),
                breaker_closed=self._breaker.state is BreakerState.CLOSED,
                stopping=self._stopping,
            )
            await asyncio.sleep(BEAT_INTERVAL_S)

    def _commit(self) -> None:
        positions = self._tracker.to_commit()
        if positions and self._poller is not None:
            self._poller.request_commit(positions)
            self._tracker.mark_committed(positions)

    def _refresh_gauges(self) -> None:
        pool, poller = self._pool, self._poller
        if pool is None or poller is None:
            return
        stats = pool.stats
        lag = 0
        for key, high in poller.high_watermarks.items():
            asg = self._assignments.get(key)
            position = asg.offsets.position if asg is not None else None
            if position is not None:
                lag += max(0, high - position)
        self.metrics.gauges = GaugeValues(
            queue_length=stats.queued,
            overflow=len(self._overflow) + (len(self._backlog) if self._backlog else 0),
            busy_workers=stats.running,
            workers=stats.workers,
            queue_capacity=self.settings.buffer,
            consumer_lag=lag,
            breaker_state=self._breaker.state.name.lower(),
            assigned_partitions=len(self._assignments),
            paused=poller.want_pause,
        )

    async def _shutdown(self) -> bool:
        """Stop fetching, finish what was fetched within the timeout; True if it timed out."""
        pool, poller = self._pool, self._poller
        assert pool is not None and poller is not None
        self._stopping = True
        poller.fetching = False
        deadline = self._clock.monotonic() + self.settings.shutdown_timeout_s
        overflow = self._overflow
        if self._backlog is not None:
            # Highest lane first; each job then waits for room in its own lane below.
            overflow.extend(self._backlog)
            self._backlog = LaneBacklog()
        while overflow:
            job = overflow.popleft()
            if job.asg.revoked:
                self.counters.dropped_on_revoke += 1
                continue
            remaining = deadline - self._clock.monotonic()
            submitted = False
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await pool.submit(job, timeout=remaining, lane=job.lane)
                    submitted = True
            if not submitted:
                overflow.appendleft(job)
                break
        summary = await pool.stop(max(0.0, deadline - self._clock.monotonic()))
        timed_out = summary.timed_out or bool(overflow)
        if timed_out:
            logger.warning(
                "shutdown timeout (%gs): %d event(s) left for redelivery",
                self.settings.shutdown_timeout_s,
                self.counters.consumed - self.finished,
            )
        return timed_out

    def _serve_metrics(self, port: int, host: str) -> int:
        try:
            return self.metrics.serve(port, host, self.health)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", what="metrics_port"
            ).at("--metrics-port") from exc

    async def _release(self, poller: KafkaPoller) -> None:
        """Free everything, also after an error: no thread or connection outlives run()."""
        self.loop_lag.stop()
        if self._pool is not None and self._pool_started:
            # After a normal shutdown this returns the same summary; after an error it
            # cancels what is left, so those events stay uncommitted.
            await self._pool.stop(0)
        positions = self._tracker.positions()
        if not await asyncio.to_thread(poller.close, positions):
            logger.error("the final commit failed: finished events may be redelivered")
        if self._dlq is not None:
            await asyncio.to_thread(self._dlq.close)
        for sender in self._senders:
            await sender.close()
        self.metrics.close()


def run_consumer(
    settings: ConsumerSettings,
    *,
    max_events: int | None = None,
    on_ready: Callable[[], None] | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    kafka_config: Mapping[str, Any] | None = None,
) -> ConsumerCounters:
    """Run a consumer in a new event loop until SIGTERM/SIGINT or `max_events` finished."""

    async def main() -> ConsumerCounters:
        service = ConsumerService(
            settings,
            max_events=max_events,
            on_ready=on_ready,
            connect_timeout_s=connect_timeout_s,
            kafka_config=kafka_config,
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _on_signal, service, signum)
        try:
            return await service.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The consumer's event loop: uvloop's where installed, else asyncio's.

    uvloop's transports and timers are implemented in C; with the lean SMTP client they
    are most of what an email costs on the loop.
    """
    return _loop_factory()


def _on_signal(service: ConsumerService, signum: int) -> None:
    logger.info("%s received: shutting down", signal.Signals(signum).name)
    service.request_stop()
