"""The producing loop: open-model schedule -> confluent-kafka producer -> `LoadReport`.

Open model: event i is meant to be sent at start + offset(i). When the loop is behind it
sends late and records the lag; it never moves the schedule. Each message carries the
intended and the actual send time (wall-clock ns) in its headers, so a stalled consumer
cannot hide its own latency. Wall times are the start's wall clock plus monotonic
offsets, so a wall-clock step during a run does not bend the schedule.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from confluent_kafka import Producer

from poolbench.broker import watermarks
from poolbench.errors import RunError, UnreachableError
from poolbench.loadgen.backlog import BacklogGate, CommittedProgress
from poolbench.loadgen.events import POISON_KINDS, EventFactory
from poolbench.loadgen.lag import LagRecorder
from poolbench.loadgen.spec import LoadProgress, LoadReport, LoadSpec, rate_or_none
from poolbench.metrics.clock import Clock, SystemClock
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS

log = logging.getLogger(__name__)

PROGRESS_EVERY_S: Final = 0.5
# Longest single sleep, so that `stop` and progress are noticed while the schedule idles.
_MAX_NAP_S: Final = 0.1
_BUFFER_FULL_POLL_S: Final = 0.001
_SERVE_EVERY: Final = 1024  # events between producer.poll(0) calls when never idle
_STALLED_WARNING_S: Final = 10.0


def producer_config(spec: LoadSpec, bootstrap_servers: str) -> dict[str, Any]:
    connect_ms = max(1000, int(spec.connect_timeout * 1000))
    return {
        "bootstrap.servers": bootstrap_servers,
        "compression.type": spec.compression,
        # A short linger: every ms messages wait here is charged to the consumer under test.
        "linger.ms": spec.linger_ms,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500_000,
        "message.timeout.ms": max(1000, int(spec.delivery_timeout * 1000)),
        "socket.connection.setup.timeout.ms": connect_ms,
        "enable.idempotence": False,
        "acks": "all",
        # One Python callback per message would cost more than the message: report errors
        # only, and count acknowledgements as produced minus errors once flushed.
        "delivery.report.only.error": True,
        "log_level": 3,
        **spec.producer_config,
    }


class _Deliveries:
    __slots__ = ("errors", "first_error")

    def __init__(self) -> None:
        self.errors = 0
        self.first_error = ""

    def __call__(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.errors += 1
            if not self.first_error:
                self.first_error = str(err)


def run_load(
    spec: LoadSpec,
    *,
    bootstrap_servers: str,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[LoadProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadReport:
    """Produce the load `spec` describes; blocks until every message is acknowledged.

    `stop` ends the run early (the messages already produced are still flushed).
    `UnreachableError` when the cluster does not answer within `spec.connect_timeout`.
    `sleep` is injected with `clock` so tests can run the schedule on a manual clock.
    """
    clock = clock or SystemClock()
    marks = watermarks(bootstrap_servers, spec.topic, spec.connect_timeout)
    first_offsets = {partition: high for partition, (_low, high) in marks.items()}
    deliveries = _Deliveries()
    producer = Producer({**producer_config(spec, bootstrap_servers), "on_delivery": deliveries})
    gate: BacklogGate | None = None
    progress_reader: CommittedProgress | None = None
    if spec.backlog is not None and spec.group is not None:
        progress_reader = CommittedProgress(
            bootstrap_servers, spec.topic, spec.group, first_offsets, spec.connect_timeout
        )
        gate = BacklogGate(spec.backlog, progress_reader, poll_interval=spec.backlog_poll)
    try:
        return _produce(
            spec,
            producer=producer,
            deliveries=deliveries,
            gate=gate,
            first_offsets=first_offsets,
            clock=clock,
            stop=stop,
            on_progress=on_progress,
            sleep=sleep,
        )
    finally:
        if progress_reader is not None:
            progress_reader.close()


def _produce(
    spec: LoadSpec,
    *,
    producer: Any,
    deliveries: _Deliveries,
    gate: BacklogGate | None,
    first_offsets: dict[int, int],
    clock: Clock,
    stop: threading.Event | None,
    on_progress: Callable[[LoadProgress], None] | None,
    sleep: Callable[[float], None],
) -> LoadReport:
    profile = spec.profile
    factory = EventFactory(spec.knobs(), random.Random(spec.seed), nonce=spec.id_nonce)
    lags = LagRecorder()
    poison = dict.fromkeys(POISON_KINDS, 0)
    poison_ids: list[str] = []
    count = spec.count
    duration = spec.duration_s
    offsets = None if profile.is_max else profile.offsets()
    produce = producer.produce
    topic = spec.topic
    # The bound method of the system clock costs a second call per reading.
    monotonic = time.monotonic if isinstance(clock, SystemClock) else clock.monotonic
    add_lag = lags.append
    make = factory.make
    id_key, intended_key, sent_key = HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS
    stopped = False

    t0 = monotonic()
    w0 = clock.wall_ns()
    next_progress = t0 + PROGRESS_EVERY_S
    seq = 0

    def report_progress(now: float) -> None:
        if on_progress is not None:
            backlog = None if gate is None else seq - gate.consumed
            on_progress(
                LoadProgress(
                    produced=seq,
                    delivery_errors=deliveries.errors,
                    elapsed_s=now - t0,
                    backlog=backlog,
                )
            )

    def idle_until(target: float) -> bool:
        """Sleep until monotonic `target` in short naps; False when stopped meanwhile."""
        nonlocal next_progress
        producer.poll(0)
        while True:
            now = monotonic()
            if now >= target:
                return True
            if stop is not None and stop.is_set():
                return False
            if now >= next_progress:
                report_progress(now)
                next_progress = now + PROGRESS_EVERY_S
            sleep(min(target - now, _MAX_NAP_S))

    while count is None or seq < count:
        if stop is not None and stop.is_set():
            stopped = True
            break
        now = monotonic()
        if offsets is not None:
            offset = next(offsets)
            if duration is not None and offset >= duration:
                break
            target = t0 + offset
            if now < target:
                if not idle_until(target):
                    stopped = True
                    break
                now = monotonic()
        else:
            offset = now - t0
            if duration is not None and offset >= duration:
                break
        if gate is not None and gate.permits(seq, now) <= 0:
            # Saturation mode: wait for the group to commit. The release time becomes the
            # intended time: the consumer is not charged for the generator's waiting.
            timed_out = False
            waiting_since: float | None = now
            progress_at, consumed_then = now, gate.consumed
            while gate.permits(seq, now) <= 0:
                if duration is not None and now - t0 >= duration:
                    timed_out = True
                    break
                if gate.consumed != consumed_then:
                    progress_at, consumed_then = now, gate.consumed
                elif now - progress_at >= spec.stall_timeout:
                    producer.flush(spec.delivery_timeout + 5.0)
                    raise RunError(
                        f"consumer group {spec.group} committed nothing on topic {topic} "
                        f"for {spec.stall_timeout:g}s with a backlog of {seq - gate.consumed}: "
                        "is a consumer in that group running?"
                    )
                if waiting_since is not None and now - waiting_since > _STALLED_WARNING_S:
                    log.warning(
                        "backlog of %d has not shrunk for %.0fs: is a consumer in group %s "
                        "committing offsets on %s?",
                        seq - gate.consumed,
                        now - waiting_since,
                        spec.group,
                        topic,
                    )
                    waiting_since = None
                if not idle_until(now + spec.backlog_poll / 2):
                    stopped = True
                    break
                now = monotonic()
            if stopped or timed_out:
                break
            offset = max(offset, now - t0)
        intended_ns = w0 + round(offset * 1e9)
        event_id, key, value, poison_kind = make(seq, intended_ns)
        intended_header = b"%d" % intended_ns
        while True:
            sent_ns = w0 + round((monotonic() - t0) * 1e9)
            try:
                produce(
                    topic,
                    value,
                    key,
                    headers=[
                        (id_key, event_id),
                        (intended_key, intended_header),
                        (sent_key, b"%d" % sent_ns),
                    ],
                )
                break
            except BufferError:
                # The producer's queue is full: serve it, then try again (sent late).
                producer.poll(_BUFFER_FULL_POLL_S)
        add_lag((sent_ns - intended_ns) // 1000)
        if poison_kind is not None:
            poison[poison_kind] += 1
            poison_ids.append(event_id.decode())
        seq += 1
        if seq % _SERVE_EVERY == 0:
            producer.poll(0)
            lags.maybe_fold()
            now = monotonic()
            if now >= next_progress:
                report_progress(now)
                next_progress = now + PROGRESS_EVERY_S

    send_end = monotonic()
    remaining = producer.flush(spec.delivery_timeout + 5.0)
    end = monotonic()
    report_progress(end)
    if remaining:
        log.warning("%d message(s) still unacknowledged after the delivery timeout", remaining)
    acknowledged = max(0, seq - deliveries.errors - remaining)
    if seq and acknowledged == 0 and deliveries.errors:
        raise UnreachableError(f"no message reached topic {topic}: {deliveries.first_error}")
    elapsed = end - t0
    send_elapsed = send_end - t0
    lag = lags.summary()
    return LoadReport(
        spec=spec.describe(),
        partitions=len(first_offsets),
        produced=seq,
        acknowledged=acknowledged,
        delivery_errors=deliveries.errors,
        first_error=deliveries.first_error,
        elapsed_s=elapsed,
        send_elapsed_s=send_elapsed,
        achieved_rate=acknowledged / elapsed if elapsed > 0 else 0.0,
        send_rate=seq / send_elapsed if send_elapsed > 0 else 0.0,
        target_rate=(
            None
            if profile.is_max
            else rate_or_none(profile.expected_count(send_elapsed), send_elapsed)
        ),
        schedule_lag_ms=lag.as_dict(),
        first_offsets=first_offsets,
        poison={kind: n for kind, n in poison.items() if n},
        poison_ids=tuple(poison_ids),
        id_prefix=factory.id_prefix,
        backlog_max=None if gate is None else gate.max_backlog,
        stopped_early=stopped,
        start_wall_ns=w0,
    )
