"""The producing loop: open-model schedule -> confluent-kafka producer -> `LoadReport`.

Open model: event i is meant to be sent at start + offset(i). When the loop is behind it
sends late and records the lag; it never moves the schedule. Each message carries the
intended and the actual send time in its headers, so a stalled consumer cannot hide its
own latency. Both are CLOCK_MONOTONIC ns (`poolbench.metrics.clock.stamp_ns`), the clock
the sink and the consumer stamp with, so a wall-clock step during a run moves neither
the schedule nor a latency. The report pairs the start's stamp with its wall time
(`start_mono_ns`, `start_wall_ns`): the merge puts the stamps of several hosts on one
wall timeline with it.

Why one module of ~480 lines: `_produce` is the paced hot loop, and its closures share
the loop's locals (producer, deliveries, clock, lag recorder) on purpose, so that each
event costs no attribute lookups; the max-rate loop and the backlog wait sit beside it
because they are handed those closures and locals as arguments.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any, Final

from confluent_kafka import KafkaException, Producer

from poolbench.broker.cluster import watermarks
from poolbench.errors import ConfigError, RunError, UnreachableError
from poolbench.loadgen.backlog import BacklogGate, CommittedProgress
from poolbench.loadgen.events import POISON_KINDS, Event, EventFactory
from poolbench.loadgen.lag import LagRecorder
from poolbench.loadgen.report import LoadProgress, LoadReport, rate_or_none
from poolbench.loadgen.spec import LoadSpec
from poolbench.metrics.clock import Clock, SystemClock, stamp_ns
from poolbench.wire import HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS

log = logging.getLogger(__name__)

PROGRESS_EVERY_S: Final = 0.5
# Longest single sleep, so that `stop` and progress are noticed while the schedule idles.
_MAX_NAP_S: Final = 0.1
_BUFFER_FULL_POLL_S: Final = 0.001
_SERVE_MASK: Final = 1023  # serve the producer every 1024 events when never idle
_STALLED_WARNING_S: Final = 10.0
_SEQ_DIGITS: Final = 12
# How long a stopped generator waits for the last delivery reports (see `_flush`).
STOPPED_FLUSH_S: Final = 1.0  # hex digits of the sequence number at the end of each id


def producer_config(spec: LoadSpec, bootstrap_servers: str) -> dict[str, Any]:
    connect_ms = max(1000, int(spec.connect_timeout * 1000))
    return {
        "bootstrap.servers": bootstrap_servers,
        # A short linger: every ms messages wait here is charged to the consumer under test.
        "linger.ms": spec.linger_ms,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500_000,
        "message.timeout.ms": max(1000, int(spec.delivery_timeout * 1000)),
        "socket.connection.setup.timeout.ms": connect_ms,
        "enable.idempotence": False,
        "acks": "all",
        "log_level": 3,
        **spec.producer,
        # After the user's settings: `LoadSpec` refuses these keys, and the report's
        # per-id acknowledgements need a delivery report for every message.
        "compression.type": spec.compression,
        "delivery.report.only.error": False,
    }


class _Deliveries:
    """Every delivery report: the sequence number, partition and offset of each ack.

    The id is not in the report's key, and headers are not available there, so the
    sequence number is read back from the value: the id's run-unique prefix is followed
    by 12 hex digits of it (also in poison values, which keep the id field).
    """

    __slots__ = ("acked_offset", "acked_partition", "acked_seq", "failed_seq", "first_error")

    def __init__(self) -> None:
        self.acked_seq: array[int] = array("q")
        self.acked_partition: array[int] = array("q")
        self.acked_offset: array[int] = array("q")
        self.failed_seq: array[int] = array("q")
        self.first_error = ""

    @property
    def errors(self) -> int:
        return len(self.failed_seq)

    def callback(self, id_prefix: bytes) -> Callable[[Any, Any], None]:
        """The `on_delivery` function: one call per message, so everything is bound."""
        find_from = len(id_prefix)
        add_seq, add_partition = self.acked_seq.append, self.acked_partition.append
        add_offset, add_failed = self.acked_offset.append, self.failed_seq.append

        def on_delivery(err: Any, msg: Any) -> None:
            value = msg.value()
            at = value.find(id_prefix) + find_from
            seq = int(value[at : at + _SEQ_DIGITS], 16)
            if err is None:
                add_seq(seq)
                add_partition(msg.partition())
                add_offset(msg.offset())
            else:
                add_failed(seq)
                if not self.first_error:
                    self.first_error = str(err)

        return on_delivery


def run_load(
    spec: LoadSpec,
    *,
    bootstrap_servers: str,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[LoadProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    start_at_wall_ns: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> LoadReport:
    """Produce the load `spec` describes; blocks until every message is acknowledged.

    `stop` ends the run early (the messages already produced are still flushed).
    `UnreachableError` when the cluster does not answer within `spec.connect_timeout`.
    `sleep` is injected with `clock` so tests can run the schedule on a manual clock.
    `on_ready` is called once connected (topic metadata read, producer built); with
    `start_at_wall_ns` the schedule then starts at that wall-clock time (late: the
    first events show the lateness as schedule lag; the schedule is never moved).
    """
    clock = clock or SystemClock()
    marks = watermarks(bootstrap_servers, spec.topic, spec.connect_timeout)
    first_offsets = {partition: high for partition, (_low, high) in marks.items()}
    deliveries = _Deliveries()
    factory = EventFactory(spec.knobs(), random.Random(spec.seed), nonce=spec.id_nonce)
    config = producer_config(spec, bootstrap_servers)
    try:
        producer = Producer(
            {**config, "on_delivery": deliveries.callback(factory.id_prefix.encode())}
        )
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        reason = error.str() if hasattr(error, "str") else str(error)
        raise ConfigError(f"producer settings refused by librdkafka: {reason}") from exc
    gate: BacklogGate | None = None
    progress_reader: CommittedProgress | None = None
    try:
        if spec.backlog is not None and spec.group is not None:
            progress_reader = CommittedProgress(
                bootstrap_servers, spec.topic, spec.group, first_offsets, spec.connect_timeout
            )
            gate = BacklogGate(spec.backlog, progress_reader, poll_interval=spec.backlog_poll)
        if on_ready is not None:
            on_ready()
        stopped = start_at_wall_ns is not None and not _wait_until_wall(
            start_at_wall_ns, clock, sleep, stop
        )
        return _produce(
            spec,
            producer=producer,
            factory=factory,
            deliveries=deliveries,
            gate=gate,
            first_offsets=first_offsets,
            clock=clock,
            stop=stop,
            on_progress=on_progress,
            sleep=sleep,
            start_at_wall_ns=start_at_wall_ns,
            stopped_before_start=stopped,
        )
    finally:
        if progress_reader is not None:
            progress_reader.close()


def _wait_until_wall(
    wall_ns: int, clock: Clock, sleep: Callable[[float], None], stop: threading.Event | None
) -> bool:
    """Sleep in short naps until the wall clock reaches `wall_ns`; False if stopped first."""
    while True:
        if stop is not None and stop.is_set():
            return False
        remaining = (wall_ns - clock.wall_ns()) / 1e9
        if remaining <= 0:
            return True
        sleep(min(remaining, _MAX_NAP_S))


def _produce(
    spec: LoadSpec,
    *,
    producer: Any,
    factory: EventFactory,
    deliveries: _Deliveries,
    gate: BacklogGate | None,
    first_offsets: dict[int, int],
    clock: Clock,
    stop: threading.Event | None,
    on_progress: Callable[[LoadProgress], None] | None,
    sleep: Callable[[float], None],
    start_at_wall_ns: int | None,
    stopped_before_start: bool,
) -> LoadReport:
    profile = spec.profile
    lags = LagRecorder()
    poison = dict.fromkeys(POISON_KINDS, 0)
    poison_ids: list[str] = []
    count = spec.count
    duration = spec.duration_s
    offsets = None if profile.is_max else profile.offsets()
    produce = producer.produce
    topic = spec.topic
    system = isinstance(clock, SystemClock)
    # The bound method of the system clock costs a second call per reading; the hot
    # path reads integer nanoseconds (no float arithmetic, no rounding).
    monotonic = time.monotonic if system else clock.monotonic
    monotonic_ns = stamp_ns if system else clock.stamp_ns
    add_lag = lags.append
    make = factory.maker()
    id_key, intended_key, sent_key = HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS
    unscheduled = offsets is None and gate is None
    stopped = stopped_before_start

    # The (wall, monotonic) pair of the start, read together.
    t0_ns = monotonic_ns()
    w0 = clock.wall_ns()
    if start_at_wall_ns is not None:
        # The schedule's origin is the agreed wall time, even when we are past it.
        t0_ns -= w0 - start_at_wall_ns
        w0 = start_at_wall_ns
    t0 = t0_ns / 1e9
    # Stamp -> wall time, only for the event's own date (its `timestamp` field, for humans).
    date_shift = w0 - t0_ns
    end_ns = None if duration is None else t0_ns + round(duration * 1e9)
    limit = -1 if stopped else (count if count is not None else 1 << 62)
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

    def periodic(seq_now: int) -> bool:
        """Every 1024 events (and at once): serve delivery reports, fold lags, report
        progress; False once `stop` is set (paced schedules also notice it while idle)."""
        nonlocal next_progress, seq
        seq = seq_now
        if stop is not None and stop.is_set():
            return False
        if seq_now:
            producer.poll(0)
            lags.maybe_fold()
        now = monotonic()
        if now >= next_progress:
            report_progress(now)
            next_progress = now + PROGRESS_EVERY_S
        return True

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

    # The loop makes no reference cycles, but allocates a few containers per event, so
    # the cyclic collector would run every couple of hundred events for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if unscheduled:
            seq, stopped_max = _produce_max(
                monotonic_ns=monotonic_ns,
                date_shift=date_shift,
                seq=seq,
                limit=limit,
                end_ns=(1 << 62) if end_ns is None else end_ns,
                make=make,
                produce=produce,
                topic=topic,
                periodic=periodic,
                serve=producer.poll,
                poison=poison,
                poison_ids=poison_ids,
            )
            stopped = stopped or stopped_max
        while not unscheduled and seq < limit:
            if not seq & _SERVE_MASK and not periodic(seq):
                stopped = True
                break
            if offsets is not None:
                offset = next(offsets)
                if duration is not None and offset >= duration:
                    break
                target = t0 + offset
                if monotonic() < target and not idle_until(target):
                    stopped = True
                    break
                intended_ns = t0_ns + round(offset * 1e9)
            else:
                now_ns = monotonic_ns()
                if end_ns is not None and now_ns >= end_ns:
                    break
                intended_ns = now_ns
                if gate is not None and gate.permits(seq, now_ns / 1e9) <= 0:
                    released = _wait_for_backlog(
                        spec, gate, seq, producer, idle_until, monotonic, t0, duration
                    )
                    if released is None:
                        stopped = stop is not None and stop.is_set()
                        break
                    # The release time becomes the intended time: the consumer is not
                    # charged for the generator's waiting.
                    intended_ns = max(intended_ns, t0_ns + round((released - t0) * 1e9))
            event_id, key, value, poison_kind = make(seq, intended_ns + date_shift)
            intended_header = b"%d" % intended_ns
            while True:
                sent_ns = monotonic_ns()
                sent_header = b"%d" % sent_ns
                try:
                    produce(
                        topic,
                        value,
                        key,
                        headers=[
                            (id_key, event_id),
                            (intended_key, intended_header),
                            (sent_key, sent_header),
                        ],
                    )
                    break
                except BufferError:
                    # The producer's queue is full: serve it, then try again (sent late).
                    if stop is not None and stop.is_set():
                        raise _Stopped from None
                    producer.poll(_BUFFER_FULL_POLL_S)
            add_lag((sent_ns - intended_ns) // 1000)
            if poison_kind is not None:
                poison[poison_kind] += 1
                poison_ids.append(event_id.decode())
            seq += 1
    except _Stopped:
        stopped = True
    finally:
        if collecting:
            gc.enable()

    send_end = monotonic()
    remaining = _flush(producer, spec.delivery_timeout + 5.0, stop)
    end = monotonic()
    report_progress(end)
    if remaining:
        log.warning("%d message(s) still unacknowledged after the delivery timeout", remaining)
    acknowledged = len(deliveries.acked_seq)
    if seq and acknowledged == 0 and deliveries.errors:
        raise UnreachableError(f"no message reached topic {topic}: {deliveries.first_error}")
    elapsed = max(0.0, end - t0)
    send_elapsed = max(0.0, send_end - t0)
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
        start_mono_ns=t0_ns,
        acked_seq=deliveries.acked_seq,
        acked_partition=deliveries.acked_partition,
        acked_offset=deliveries.acked_offset,
        failed_seq=deliveries.failed_seq,
        priority_codes="".join(factory.priority_codes or ()),
    )


def _flush(producer: Any, timeout_s: float, stop: threading.Event | None) -> int:
    """Wait for the delivery reports of what was produced; the messages left unreported.

    Once stopped (SIGTERM), at most `STOPPED_FLUSH_S` more: a broker that is gone would
    hold the flush for the whole delivery timeout, and a stopped generator must exit
    within `poolbench.orphans.KILL_AFTER_S`. The messages left count as unacknowledged.
    """
    deadline = time.monotonic() + timeout_s
    stopped = False
    while True:
        if not stopped and stop is not None and stop.is_set():
            stopped = True
            deadline = min(deadline, time.monotonic() + STOPPED_FLUSH_S)
        left = deadline - time.monotonic()
        remaining: int = producer.flush(max(0.0, min(left, _MAX_NAP_S)))
        if not remaining or left <= 0:
            return remaining


class _Stopped(Exception):
    """Stopped while the producer's queue was full (a broker gone): leave the loop."""


def _wait_for_backlog(  # noqa: PLR0917 (private, one caller)
    spec: LoadSpec,
    gate: BacklogGate,
    seq: int,
    producer: Any,
    idle_until: Callable[[float], bool],
    monotonic: Callable[[], float],
    t0: float,
    duration: float | None,
) -> float | None:
    """Saturation mode: wait until the group commits enough; the release time, or None
    when the run ends meanwhile (duration over or stopped). `RunError` on a stall."""
    now = monotonic()
    waiting_since: float | None = now
    progress_at, consumed_then = now, gate.consumed
    while gate.permits(seq, now) <= 0:
        if duration is not None and now - t0 >= duration:
            return None
        if gate.consumed != consumed_then:
            progress_at, consumed_then = now, gate.consumed
        elif now - progress_at >= spec.stall_timeout:
            _flush(producer, spec.delivery_timeout + 5.0, None)
            raise RunError(
                f"consumer group {spec.group} committed nothing on topic {spec.topic} "
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
                spec.topic,
            )
            waiting_since = None
        if not idle_until(now + spec.backlog_poll / 2):
            return None
        now = monotonic()
    return now


def _produce_max(
    *,
    monotonic_ns: Callable[[], int],
    date_shift: int,
    seq: int,
    limit: int,
    end_ns: int,
    make: Callable[[int, int], Event],
    produce: Callable[..., None],
    topic: str,
    periodic: Callable[[int], bool],
    serve: Callable[[float], int],
    poison: dict[str, int],
    poison_ids: list[str],
) -> tuple[int, bool]:
    """`--rate max` without a backlog gate: no schedule, so an event is meant when it
    is handed over (intended = sent, no lag to record). (events produced, stopped)."""
    id_key, intended_key, sent_key = HEADER_ID, HEADER_INTENDED_NS, HEADER_SENT_NS
    mask = _SERVE_MASK
    while seq < limit:
        if not seq & mask and not periodic(seq):
            return seq, True
        now_ns = monotonic_ns()
        if now_ns >= end_ns:
            break
        event_id, key, value, poison_kind = make(seq, now_ns + date_shift)
        while True:
            sent = b"%d" % monotonic_ns()
            try:
                produce(
                    topic,
                    value,
                    key,
                    headers=[(id_key, event_id), (intended_key, sent), (sent_key, sent)],
                )
                break
            except BufferError:
                if not periodic(seq):  # stopped while the queue is full
                    return seq, True
                serve(_BUFFER_FULL_POLL_S)
        if poison_kind is not None:
            poison[poison_kind] += 1
            poison_ids.append(event_id.decode())
        seq += 1
    return seq, False
