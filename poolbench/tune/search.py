"""A bounded, measured search for the smallest pool that meets a target, and for the knee.

Pure: every measurement comes from an injected `measure(workers, buffer, load)` and time from
an injected clock, so a simulated system tests it exactly. The phases, in order:

1. workers, at the target rate with a generous buffer: a bracket around the answer. The first
   guess is Little's law (workers busy = rate x mean send time); a known lower bound on the
   send time (the sink's latency) also rules out every smaller count without measuring it.
   A saturated point tells the per-worker rate, so the next guess is measured Little's law;
   once a failing and a passing count are known, bisect until they are one step apart.
2. buffer, at that worker count: the smallest buffer that still meets the target, from the
   worker count up (a buffer below the worker count leaves workers idle between polls).
3. confirm: the chosen setting measured again; if it fails, one step more workers.
4. ceiling: the chosen setting under a saturating load, for the headroom over the target;
   when it is short of the target's headroom (20% by default), more workers (measured
   Little's law from the ceiling), each measured at the rate and saturated, up to 3 steps.
5. knee: saturating load at doubling worker counts until throughput flattens, the consumer's
   CPU saturates, the harness saturates, or a budget ends.

Every phase stops at the point budget, the time budget (a point is not started if the mean
point duration so far would overrun it) or Ctrl-C; the result keeps every probe measured.

The five phases run over one search state (probes, budgets, the bracket) and each starts
from what the previous one found, so the order above reads top to bottom in the code;
the types they fill are `probes.py`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from poolbench.errors import RunError
from poolbench.metrics.clock import Clock
from poolbench.tune.probes import (
    Knee,
    Measure,
    Phase,
    Probe,
    ProbeLoad,
    SearchLimits,
    SearchResult,
    StopReason,
    Target,
)

log = logging.getLogger(__name__)


class _Stop(Exception):
    def __init__(self, reason: StopReason, error: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.error = error


@dataclass(slots=True)
class _Search:
    measure: Measure
    target: Target
    limits: SearchLimits
    clock: Clock
    on_probe: Callable[[Probe], None] | None
    started: float = 0.0
    probes: list[Probe] = field(default_factory=list)
    best: tuple[int, int] | None = None  # the smallest passing (workers, buffer) so far

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def probe(self, phase: Phase, workers: int, buffer: int, load: ProbeLoad) -> Probe:
        if len(self.probes) >= self.limits.max_points:
            raise _Stop(StopReason.POINT_BUDGET)
        mean_duration = (
            sum(p.duration_s for p in self.probes) / len(self.probes) if self.probes else 0.0
        )
        if self.elapsed() + mean_duration > self.limits.max_time_s:
            raise _Stop(StopReason.TIME_BUDGET)
        begin = self.elapsed()
        try:
            m = self.measure(workers, buffer, load)
        except KeyboardInterrupt:
            raise _Stop(StopReason.INTERRUPTED) from None
        except RunError as exc:
            # A part would not start: end the search, keep what was measured.
            raise _Stop(StopReason.FAILED, f"{workers} workers, buffer {buffer}: {exc}") from exc
        failures = tuple(self.target.failures(m)) if load is ProbeLoad.TARGET else ()
        probe = Probe(
            index=len(self.probes),
            phase=phase,
            workers=workers,
            buffer=buffer,
            load=load,
            measurement=m,
            failures=failures,
            started_s=begin,
            duration_s=self.elapsed() - begin,
        )
        self.probes.append(probe)
        log.info(
            "probe %d %s: %d workers, buffer %d, %s: %.1f/s p99 %.0f ms %s",
            probe.index,
            phase.value,
            workers,
            buffer,
            load.value,
            m.throughput,
            m.p99_ms,
            "; ".join(failures) or "ok",
        )
        if self.on_probe is not None:
            self.on_probe(probe)
        return probe

    def remaining(self) -> int:
        return self.limits.max_points - len(self.probes)

    # -- phase 1 -----------------------------------------------------------------------------
    def workers(self) -> int:
        """The smallest worker count meeting the target (to the search's precision)."""
        lim, rate = self.limits, self.target.rate
        lo = 0  # largest count known to fail
        if lim.send_s_hint:
            # Fewer than rate x send time workers cannot carry the rate, whatever else holds.
            lo = min(lim.max_workers - 1, math.ceil(rate * lim.send_s_hint - 1e-9) - 1)
            guess = math.ceil(lim.headroom * rate * lim.send_s_hint - 1e-9)
        else:
            guess = lim.first_guess
        hi: int | None = None  # smallest count known to pass
        w = _clamp(guess, lo + 1, lim.max_workers)
        failing: list[Probe] = []
        while True:
            p = self.probe(Phase.WORKERS, w, lim.buffer_for_search(w), ProbeLoad.TARGET)
            if p.meets:
                hi = w
                self.best = (w, p.buffer)
            else:
                lo = max(lo, w)
                if hi is None:
                    self._check_reachable(p, failing)
                failing.append(p)
            if hi is not None:
                if hi - lo <= lim.step(hi):
                    return hi
                w = _middle(lo, hi)
                continue
            if w >= lim.max_workers:
                raise _Stop(StopReason.UNREACHABLE)
            w = _clamp(max(self._little(p), math.ceil(w * 1.25)), lo + 1, lim.max_workers)

    def _little(self, p: Probe) -> int:
        """Measured Little's law: the workers the rate needs at the send time seen at `p`.

        Two estimates of the send time: the measured mean, and workers / throughput when the
        point fell short (every worker busy). An overloaded point inflates both, so take the
        smaller, and never more than 4x the workers of `p`: the bracket does the rest.
        """
        m, rate, headroom = p.measurement, self.target.rate, self.limits.headroom
        guesses = []
        if m.send_ms:
            guesses.append(math.ceil(headroom * rate * m.send_ms / 1000))
        if 0 < m.throughput < self.target.min_throughput:
            guesses.append(math.ceil(headroom * rate * p.workers / m.throughput))
        if not guesses:
            return math.ceil(p.workers * 1.5)  # p99 or losses, not capacity: grow geometrically
        return min(*guesses, 4 * p.workers)

    def _check_reachable(self, p: Probe, failing: list[Probe]) -> None:
        """Stop when more workers demonstrably do not raise throughput to the rate."""
        m = p.measurement
        if m.throughput >= self.target.min_throughput:
            return
        if m.harness_limited:
            # The sink or load generator is the limit: more workers cannot show anything.
            raise _Stop(StopReason.UNREACHABLE)
        if m.cpu_percent >= self.limits.cpu_saturated_percent:
            raise _Stop(StopReason.UNREACHABLE)
        for q in failing:
            # Only across a step of 1.5x or more: a smaller one is within the noise of a point.
            if 1.5 * q.workers <= p.workers and not _helps(q, p, self.limits.flat_efficiency):
                raise _Stop(StopReason.UNREACHABLE)

    # -- phase 2 -----------------------------------------------------------------------------
    def buffer(self, workers: int) -> int:
        """The smallest buffer, from the worker count up, that still meets the target."""
        lim = self.limits
        hi = lim.buffer_for_search(workers)  # passed in phase 1
        floor = lim.min_buffer if lim.min_buffer is not None else workers
        lo = min(max(1, floor), hi) - 1  # largest buffer known to fail (none yet)
        tried = 0
        b = lo + 1
        # Keep two points for the confirmation and the ceiling.
        while hi - lo > max(1, math.floor(lim.precision * hi)) and tried < lim.max_buffer_points:
            if self.remaining() <= 2:
                break
            p = self.probe(Phase.BUFFER, workers, b, ProbeLoad.TARGET)
            tried += 1
            if p.meets:
                hi = b
            else:
                lo = b
            b = _middle(lo, hi)
        return hi

    # -- phase 3 -----------------------------------------------------------------------------
    def confirm(self, workers: int, buffer: int) -> tuple[int, int, bool]:
        """Re-measure; on a miss, step up (by a step, then 15%) while points are left."""
        for attempt in range(3):
            p = self.probe(Phase.CONFIRM, workers, buffer, ProbeLoad.TARGET)
            if p.meets:
                return workers, buffer, True
            grow = self.limits.step(workers) if attempt == 0 else math.ceil(0.15 * workers)
            workers = min(self.limits.max_workers, workers + max(1, grow))
            buffer = max(buffer, workers)
        # Three settings in a row failed again: the earlier passes were luck, not capacity.
        raise _Stop(StopReason.UNCONFIRMED)

    # -- phases 4 and 5 ----------------------------------------------------------------------
    def headroom(self, workers: int, buffer: int) -> tuple[int, int, Probe, bool]:
        """The ceiling at the setting; with too little headroom, more workers (each measured
        at the rate, then saturated) until one has it, the ceiling stops rising, or a
        budget ends. The setting to recommend, its ceiling probe, and whether it has it."""
        lim, need = self.limits, self.target.min_ceiling
        ceiling = self.probe(Phase.CEILING, workers, buffer, ProbeLoad.SATURATE)
        for _ in range(lim.max_headroom_steps):
            got = ceiling.measurement.throughput
            if got >= need:
                return workers, buffer, ceiling, True
            if workers >= lim.max_workers or got <= 0 or ceiling.measurement.harness_limited:
                break
            if self.remaining() < 2:
                break
            more = min(lim.max_workers, max(workers + 1, math.ceil(1.05 * workers * need / got)))
            wider = max(buffer, more)
            at_rate = self.probe(Phase.CEILING, more, wider, ProbeLoad.TARGET)
            if not at_rate.meets:
                break
            higher = self.probe(Phase.CEILING, more, wider, ProbeLoad.SATURATE)
            if higher.measurement.throughput <= got:
                break  # more workers did not raise the ceiling: keep the smaller setting
            workers, buffer, ceiling = more, wider, higher
        return workers, buffer, ceiling, ceiling.measurement.throughput >= need

    def knee(self, workers: int, buffer: int, ceiling: Probe | None = None) -> Knee:
        lim = self.limits
        prev = ceiling or self.probe(Phase.CEILING, workers, buffer, ProbeLoad.SATURATE)
        if self._cpu_bound(prev):
            return _knee(prev, True, "consumer CPU saturated")
        for _ in range(lim.max_knee_points):
            if prev.workers >= lim.max_workers:
                break
            n = min(lim.max_workers, 2 * prev.workers)
            cur = self.probe(Phase.KNEE, n, max(buffer, n), ProbeLoad.SATURATE)
            if cur.measurement.harness_limited:
                return _knee(cur, False, "the harness (sink or load generator) saturated first")
            if self._cpu_bound(cur):
                return _knee(cur, True, "consumer CPU saturated")
            if not _helps(prev, cur, lim.flat_efficiency):
                return _knee(prev, True, "throughput flattens")
            prev = cur
        return _knee(prev, False, f"not reached up to {prev.workers} workers")

    def _cpu_bound(self, p: Probe) -> bool:
        m = p.measurement
        return m.cpu_percent >= self.limits.cpu_saturated_percent and not m.harness_limited


def _knee(p: Probe, reached: bool, reason: str) -> Knee:
    return Knee(
        workers=p.workers, throughput=p.measurement.throughput, reached=reached, reason=reason
    )


def _helps(fewer: Probe, more: Probe, efficiency: float) -> bool:
    """Did going from `fewer` to `more` workers gain at least `efficiency` of linear scaling?"""
    t0, t1 = fewer.measurement.throughput, more.measurement.throughput
    if t0 <= 0:
        return t1 > 0
    linear = more.workers / fewer.workers - 1
    return linear > 0 and (t1 / t0 - 1) / linear >= efficiency


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _middle(lo: int, hi: int) -> int:
    """Between a failing and a passing count: geometric when the bracket is wide."""
    if lo >= 1 and hi / lo > 4:
        return _clamp(round(math.sqrt(lo * hi)), lo + 1, hi - 1)
    if lo < 1 and hi > 4:
        return _clamp(round(math.sqrt(hi)), 1, hi - 1)
    return _clamp((lo + hi) // 2, lo + 1, max(lo + 1, hi - 1))


def search(
    measure: Measure,
    target: Target,
    limits: SearchLimits,
    *,
    clock: Clock,
    on_probe: Callable[[Probe], None] | None = None,
) -> SearchResult:
    """Run the phases in order until done or a budget ends; never raises for a budget."""
    s = _Search(measure=measure, target=target, limits=limits, clock=clock, on_probe=on_probe)
    s.started = clock.monotonic()
    workers: int | None = None
    buffer: int | None = None
    confirmed = buffer_searched = headroom_met = False
    knee: Knee | None = None
    stop = StopReason.DONE
    error: str | None = None
    try:
        workers = s.workers()
        buffer = limits.buffer_for_search(workers)
        buffer = s.buffer(workers)
        buffer_searched = True
        if limits.confirm:
            workers, buffer, confirmed = s.confirm(workers, buffer)
        found, wider, ceiling, headroom_met = s.headroom(workers, buffer)
        workers, buffer = found, wider
        knee = s.knee(workers, buffer, ceiling)
        if not knee.reached and knee.reason.startswith("not reached"):
            at_most = knee.workers >= limits.max_workers
            stop = StopReason.MAX_WORKERS if at_most else StopReason.KNEE_LIMIT
    except _Stop as stop_at:
        stop, error = stop_at.reason, stop_at.error
        if stop in (StopReason.UNREACHABLE, StopReason.UNCONFIRMED):
            workers = buffer = None
        elif workers is None and s.best is not None:
            # Stopped inside the worker bracket: the smallest count seen to pass, unrefined.
            workers, buffer = s.best
    finished = (StopReason.DONE, StopReason.KNEE_LIMIT, StopReason.MAX_WORKERS)
    if stop in finished and not headroom_met:
        stop = StopReason.NO_HEADROOM
    if knee is None and stop is StopReason.UNREACHABLE:
        knee = _knee_from_failures(s.probes)
    return SearchResult(
        target=target,
        limits=limits,
        probes=tuple(s.probes),
        workers=workers,
        buffer=buffer,
        confirmed=confirmed,
        buffer_searched=buffer_searched,
        headroom_met=headroom_met,
        knee=knee,
        stop=stop,
        elapsed_s=s.elapsed(),
        error=error,
    )


def _knee_from_failures(probes: list[Probe]) -> Knee | None:
    """When the target is out of reach: the best throughput seen is the ceiling's witness."""
    if not probes:
        return None
    best = max(probes, key=lambda p: (p.measurement.throughput, -p.workers))
    if best.measurement.harness_limited:
        return _knee(best, False, "the harness (sink or load generator) saturated first")
    return _knee(best, True, "throughput stops rising below the target rate")
