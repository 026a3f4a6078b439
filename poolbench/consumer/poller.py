"""The Kafka side of the consumer: one thread owns the confluent-kafka Consumer.

`Consumer.consume` blocks, so it runs in a dedicated thread that hands batches of messages
to the asyncio loop (where the pool, the senders and the offset tracker live) with
`call_soon_threadsafe`, in the order received. Every Consumer call happens in this thread
(the final commit and close run after it ended), so the loop talks to it through a few
thread-safe attributes:

- Flow control: the thread fetches the next batch only once the loop took the last one
  and has room for more (`more_wanted()`), so it never runs more than a batch ahead of
  the pool. While it waits it does not call `consume()`; if the wait lasts longer than
  `BLOCKED_PAUSE_AFTER_S` it pauses every assigned partition and polls, so that rebalance
  callbacks are served and the group membership stays alive. Pausing is not the first
  resort because librdkafka drops the prefetched messages on pause and, measured, takes
  about 0.8 s to fetch again after a resume.
- `want_pause` (set by the loop while the circuit breaker is not closed) and `fetching`
  (False for good at shutdown) pause the partitions at once and keep polling.
- `request_commit(positions)`: committed asynchronously on the next turn.

Rebalance callbacks run inside `consume()`, in this thread. On revocation the thread asks
the loop (`run_coroutine_threadsafe(...).result(timeout)`) to drop the revoked partitions'
jobs that have not started, wait for the running ones within a bound, and return the
commit positions, which it commits synchronously before the partitions move on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from poolbench.consumer.offsets import TopicPartitionKey
from poolbench.errors import UnreachableError

logger = logging.getLogger(__name__)


# The poll thread's name in the kernel (/proc/PID/task/TID/comm), so the harness can
# split the consumer's CPU by thread: the event loop runs in the main thread.
POLL_THREAD_NAME = "poolbench-poll"


def name_os_thread(name: str) -> None:
    """Name the calling thread for the kernel (15 bytes at most); nothing where Linux's
    /proc is missing. Python's own thread name stays a Python-only label."""
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as comm:
        comm.write(name[:15])


# How long consume() may wait for a batch: short, so a paced load is not delayed
# (a 0.01 s timeout took a paced load's p50 from 99 ms to 21 ms in an early measurement)
# and commands apply quickly.
CONSUME_TIMEOUT_S = 0.01
PAUSED_POLL_TIMEOUT_S = 0.05
BLOCKED_PAUSE_AFTER_S = 1.0
WATERMARK_INTERVAL_S = 1.0
WATERMARK_QUERY_TIMEOUT_S = 1.0  # a broker query for a paused partition's watermark


# How long a stopping consumer waits for its final commit and group leave: a healthy
# coordinator answers in milliseconds; a gone one never, and SIGTERM must end the process
# within 2 s (poolbench.orphans.KILL_AFTER_S, what the runner's watchdog allows).
FINISH_TIMEOUT_S: Final = 1.0


class PollerHandler(Protocol):
    """The loop side: every method is called in the event loop thread."""

    def on_assigned(self, keys: list[TopicPartitionKey]) -> None: ...

    def on_messages(self, messages: list[Message]) -> bool:
        """Take a batch; True if there is room for the next one (else call more_wanted)."""
        ...

    async def on_revoked(
        self, keys: list[TopicPartitionKey], *, lost: bool
    ) -> dict[TopicPartitionKey, int]: ...


def _keys(partitions: list[TopicPartition]) -> list[TopicPartitionKey]:
    return [(tp.topic, tp.partition) for tp in partitions]


def _partitions(positions: Mapping[TopicPartitionKey, int]) -> list[TopicPartition]:
    return [TopicPartition(topic, part, offset) for (topic, part), offset in positions.items()]


class KafkaPoller:
    """Owns the Consumer; `connect`, then `start`, then `close` (from any thread but the loop's)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        topic: str,
        handler: PollerHandler,
        loop: asyncio.AbstractEventLoop,
        *,
        batch_size: int = 500,
        revoke_timeout_s: float = 10.0,
    ) -> None:
        self._config = dict(config)
        self.topic = topic
        self._handler = handler
        self._loop = loop
        self._batch_size = batch_size
        self._revoke_timeout_s = revoke_timeout_s
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closing = False
        self._assigned: set[TopicPartitionKey] = set()
        self._paused = False
        self._commit_lock = threading.Lock()
        self._commit_request: dict[TopicPartitionKey, int] = {}
        # Set when the loop wants another batch; cleared when one is handed over.
        self._more = threading.Event()
        self._more.set()
        # Set by the loop; read by the poll thread on every turn.
        self.want_pause = False  # the loop's wish: pause now (circuit breaker open)
        self.fetching = True  # False: stop fetching for good (shutdown)
        # High watermark per assigned partition, refreshed about once a second.
        self.high_watermarks: dict[TopicPartitionKey, int] = {}
        self.commit_failures = 0

    # ---- life cycle (called from a worker thread, never the loop's) -------------------

    def connect(self, timeout: float) -> None:
        """Check the broker answers (`UnreachableError` if not), then create the consumer."""
        servers = self._config.get("bootstrap.servers")
        # A silent probe: librdkafka logs every failed connection attempt, and an
        # unreachable broker must come out as one clear line, not dozens.
        probe = Consumer(
            {
                "bootstrap.servers": servers,
                "group.id": self._config.get("group.id", "poolbench-probe"),
                "log_level": 0,
                "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
            }
        )
        try:
            metadata = probe.list_topics(self.topic, timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            reason = error.str() if isinstance(error, KafkaError) else str(error)
            raise UnreachableError(
                f"Kafka broker {servers} did not answer within {timeout:g}s: {reason}"
            ) from exc
        finally:
            probe.close()
        topic = metadata.topics.get(self.topic)
        if topic is not None and topic.error is not None:
            logger.warning("topic %r: %s", self.topic, topic.error)
        consumer = Consumer(self._config)
        consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._consumer = consumer

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=POLL_THREAD_NAME, daemon=True)
        self._thread.start()

    def close(
        self,
        final_positions: Mapping[TopicPartitionKey, int],
        timeout: float = 10.0,
        *,
        finish_timeout: float = FINISH_TIMEOUT_S,
    ) -> bool:
        """Stop the thread, commit `final_positions` synchronously, leave the group.

        The commit and the leave wait on the group coordinator; with the broker gone they
        would hold a stopping consumer for seconds, past what SIGTERM allows. They run in
        a daemon thread given `finish_timeout`: past it the consumer stops without them
        (the next owner of the partitions re-reads what was not committed: duplicates,
        never loss). Returns whether the final commit succeeded (or there was nothing to
        commit).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        consumer = self._consumer
        if consumer is None:
            return True
        positions = {k: v for k, v in final_positions.items() if k in self._assigned}
        done: list[bool] = []
        finisher = threading.Thread(
            target=lambda: done.append(self._commit_and_leave(consumer, positions)),
            name="poolbench-close",
            daemon=True,
        )
        finisher.start()
        finisher.join(finish_timeout)
        self._consumer = None
        if not done:
            logger.error(
                "the final commit and leaving the group took more than %.1f s (is the broker "
                "gone?): stopping without them",
                finish_timeout,
            )
            return False
        return done[0]

    def _commit_and_leave(
        self, consumer: Consumer, positions: Mapping[TopicPartitionKey, int]
    ) -> bool:
        ok = True
        if positions:
            try:
                consumer.commit(offsets=_partitions(positions), asynchronous=False)
            except KafkaException as exc:
                ok = False
                logger.error("final commit failed: %s", exc)  # noqa: TRY400 (expected)
        # close() runs the revoke callback: it must not call into the (stopping) loop.
        self._closing = True
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as exc:
            logger.warning("closing the Kafka consumer: %s", exc)
        return ok

    def request_commit(self, positions: Mapping[TopicPartitionKey, int]) -> None:
        """Ask the poll thread to commit these positions (asynchronously) on its next turn."""
        with self._commit_lock:
            self._commit_request.update(positions)

    # ---- the poll thread ----------------------------------------------------------------

    def _run(self) -> None:
        name_os_thread(POLL_THREAD_NAME)
        consumer = self._consumer
        assert consumer is not None
        next_watermarks = 0.0
        blocked_since: float | None = None
        try:
            while not self._stop.is_set():
                self._commit_requested(consumer)
                now = time.monotonic()
                more = self._more.is_set()
                if more:
                    blocked_since = None
                elif blocked_since is None:
                    blocked_since = now
                blocked_long = blocked_since is not None and now - blocked_since >= (
                    BLOCKED_PAUSE_AFTER_S
                )
                active = self.fetching and not self.want_pause
                if active and not more and not blocked_long:
                    self._more.wait(PAUSED_POLL_TIMEOUT_S)
                    continue
                self._apply_pause(consumer, pause=not (active and more))
                timeout = PAUSED_POLL_TIMEOUT_S if self._paused else CONSUME_TIMEOUT_S
                messages = consumer.consume(self._batch_size, timeout)
                if messages:
                    self._deliver(messages)
                if now >= next_watermarks:
                    next_watermarks = now + WATERMARK_INTERVAL_S
                    self._refresh_watermarks(consumer)
        except Exception:
            logger.exception("the Kafka poll thread failed")
            raise

    def _deliver(self, messages: list[Message]) -> None:
        good: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                logger.warning("Kafka consumer error: %s", error)
        if good and self.fetching:
            self._more.clear()
            self._loop.call_soon_threadsafe(self._hand_over, good)
        # When not fetching, messages fetched in the meantime are neither dispatched nor
        # committed: the next owner of the partition reads them again.

    def more_wanted(self) -> None:
        """From the loop: there is room again, fetch the next batch."""
        self._more.set()

    def _hand_over(self, messages: list[Message]) -> None:
        """In the loop: give a batch to the handler; fetch more at once if it all fitted."""
        if self._handler.on_messages(messages):
            self._more.set()

    def _apply_pause(self, consumer: Consumer, *, pause: bool) -> None:
        want = pause
        if want == self._paused or not self._assigned:
            return
        partitions = [TopicPartition(t, p) for t, p in self._assigned]
        try:
            if want:
                consumer.pause(partitions)
            else:
                consumer.resume(partitions)
        except KafkaException as exc:
            logger.warning("pause/resume failed: %s", exc)
            return
        self._paused = want
        logger.debug("partitions %s", "paused" if want else "resumed")

    def _commit_requested(self, consumer: Consumer) -> None:
        with self._commit_lock:
            if not self._commit_request:
                return
            request, self._commit_request = self._commit_request, {}
        positions = {k: v for k, v in request.items() if k in self._assigned}
        if not positions:
            return
        try:
            consumer.commit(offsets=_partitions(positions), asynchronous=True)
        except KafkaException as exc:
            self.commit_failures += 1
            logger.warning("commit failed (will retry with the next one): %s", exc)

    def _refresh_watermarks(self, consumer: Consumer) -> None:
        """The high watermarks, for the lag gauge. While fetching, the client's cached ones
        (updated by every fetch) cost nothing; while paused nothing is fetched, so the
        cache freezes and the lag would read as constant: then ask the broker."""
        highs: dict[TopicPartitionKey, int] = {}
        cached = not self._paused
        for topic, part in self._assigned:
            try:
                if cached:
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, part), cached=True
                    )
                else:
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, part), timeout=WATERMARK_QUERY_TIMEOUT_S
                    )
            except KafkaException:
                continue
            if high >= 0:
                highs[(topic, part)] = high
        self.high_watermarks = highs

    # ---- rebalance callbacks (inside consume(), in the poll thread) ----------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = _keys(partitions)
        self._assigned.update(keys)
        # New partitions start unpaused; the next turn pauses all if the loop wants it.
        self._paused = False
        logger.info("assigned %d partition(s): %s", len(keys), sorted(p for _, p in keys))
        self._loop.call_soon_threadsafe(self._handler.on_assigned, keys)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._revoke(consumer, partitions, lost=False)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._revoke(consumer, partitions, lost=True)

    def _revoke(self, consumer: Consumer, partitions: list[TopicPartition], *, lost: bool) -> None:
        keys = _keys(partitions)
        self._assigned.difference_update(keys)
        logger.info(
            "%s %d partition(s): %s",
            "lost" if lost else "revoked",
            len(keys),
            sorted(p for _, p in keys),
        )
        if self._closing or not keys:
            return
        future = asyncio.run_coroutine_threadsafe(
            self._handler.on_revoked(keys, lost=lost), self._loop
        )
        try:
            positions = future.result(timeout=self._revoke_timeout_s + 2.0)
        except Exception as exc:  # a timeout, or the loop is gone
            future.cancel()
            logger.warning("revocation handling did not finish: %r", exc)
            return
        if lost or not positions:
            return
        try:
            consumer.commit(offsets=_partitions(positions), asynchronous=False)
        except KafkaException as exc:
            self.commit_failures += 1
            logger.warning("commit on revocation failed: %s", exc)
