from __future__ import annotations

import dataclasses
import itertools

import pytest

from poolbench.errors import ConfigError
from poolbench.metrics.clock import ManualClock
from poolbench.tune.probes import (
    Phase,
    Probe,
    ProbeLoad,
    ProbeResult,
    SearchLimits,
    StopReason,
    Target,
)
from poolbench.tune.search import search
from tests.tune.sim import SimSystem


def true_optimum(sim: SimSystem, target: Target, limits: SearchLimits) -> int:
    """Brute force over the simulated system: the smallest worker count meeting the target."""
    for n in range(1, limits.max_workers + 1):
        m = SimSystem(rate=sim.rate, send_s=sim.send_s, sigma=sim.sigma, kappa=sim.kappa)(
            n, limits.buffer_for_search(n), ProbeLoad.TARGET
        )
        if not target.failures(m):
            return n
    raise AssertionError("no optimum")


@pytest.mark.parametrize("rate", [10.0, 100.0, 200.0, 1000.0, 1500.0])
@pytest.mark.parametrize("hint", [None, 0.05])
def test_finds_the_known_optimum_within_one_step_and_the_point_budget(
    rate: float, hint: float | None
) -> None:
    sim = SimSystem(rate=rate)
    target = Target(rate=rate, p99_ms=500)
    limits = SearchLimits(max_points=12, max_time_s=1e9, send_s_hint=hint)
    best = true_optimum(sim, target, limits)

    result = search(sim, target, limits, clock=sim.clock)

    assert result.workers is not None, result
    assert best <= result.workers <= best + limits.step(best)
    assert len(result.probes) <= limits.max_points
    assert len(sim.calls) == len(result.probes)
    assert result.confirmed
    at = result.at_setting
    assert at is not None and at.meets


def test_little_hint_rules_out_smaller_counts_without_measuring_them() -> None:
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    limits = SearchLimits(send_s_hint=0.05, max_time_s=1e9)
    result = search(sim, Target(rate=200, p99_ms=500), limits, clock=sim.clock)
    worker_probes = [p for p in result.probes if p.phase is Phase.WORKERS]
    assert all(p.workers >= 10 for p in worker_probes)
    assert worker_probes[0].workers == 11  # ceil(1.1 x 200/s x 50 ms)
    assert result.workers == 11


def test_the_buffer_phase_finds_a_buffer_that_meets_the_target() -> None:
    sim = SimSystem(rate=200.0, buffer_need_per_worker=3.0)
    target = Target(rate=200, p99_ms=500)
    result = search(sim, target, SearchLimits(send_s_hint=0.05, max_time_s=1e9), clock=sim.clock)
    assert result.workers is not None and result.buffer is not None
    assert result.buffer >= 3 * result.workers
    assert result.buffer <= SearchLimits().buffer_for_search(result.workers)
    assert any(p.phase is Phase.BUFFER and not p.meets for p in result.probes)


def test_without_a_buffer_need_the_buffer_shrinks_to_the_worker_count() -> None:
    sim = SimSystem(rate=200.0)
    result = search(
        sim,
        Target(rate=200, p99_ms=500),
        SearchLimits(send_s_hint=0.05, max_time_s=1e9),
        clock=sim.clock,
    )
    assert result.workers is not None
    assert result.buffer == result.workers


def test_ceiling_and_knee_where_throughput_flattens() -> None:
    sim = SimSystem(rate=100.0, sigma=0.05, kappa=0.0005)  # peak near 44 workers
    result = search(
        sim, Target(rate=100, p99_ms=500), SearchLimits(max_time_s=1e9), clock=sim.clock
    )
    assert result.ceiling is not None
    assert result.ceiling.measurement.throughput > 100
    assert result.knee is not None and result.knee.reached
    assert result.knee.reason == "throughput flattens"
    # The knee lies where doubling stops paying: at most the USL peak, at least the setting.
    assert result.workers is not None
    assert result.workers <= result.knee.workers <= 44
    assert result.stop is StopReason.DONE


def test_knee_where_consumer_cpu_saturates() -> None:
    sim = SimSystem(rate=100.0, sigma=0.0, kappa=0.0, cpu_per_email=0.1)  # 900/s -> 90%
    result = search(
        sim, Target(rate=100, p99_ms=500), SearchLimits(max_time_s=1e9), clock=sim.clock
    )
    assert result.knee is not None
    assert result.knee.reason == "consumer CPU saturated"
    knee_probe = [p for p in result.probes if p.workers == result.knee.workers][-1]
    assert knee_probe.measurement.cpu_percent >= 90


def test_harness_saturation_is_not_reported_as_the_consumers_knee() -> None:
    sim = SimSystem(rate=100.0, sigma=0.0, kappa=0.0, harness_max=500.0, cpu_per_email=0.0)
    result = search(
        sim, Target(rate=100, p99_ms=500), SearchLimits(max_time_s=1e9), clock=sim.clock
    )
    assert result.knee is not None
    assert not result.knee.reached
    assert "harness" in result.knee.reason


def test_unreachable_rate_stops_and_reports_the_best_throughput() -> None:
    sim = SimSystem(rate=5000.0, sigma=0.05, kappa=0.0005)  # the USL peak is about 580/s
    limits = SearchLimits(max_time_s=1e9, send_s_hint=0.05)
    result = search(sim, Target(rate=5000, p99_ms=500), limits, clock=sim.clock)
    assert result.stop is StopReason.UNREACHABLE
    assert result.workers is None
    assert result.knee is not None
    assert result.knee.throughput == max(p.measurement.throughput for p in result.probes)
    assert len(result.probes) < limits.max_points


def test_point_budget_keeps_what_was_measured() -> None:
    sim = SimSystem(rate=1000.0)
    result = search(sim, Target(rate=1000, p99_ms=500), SearchLimits(max_points=2), clock=sim.clock)
    assert result.stop is StopReason.POINT_BUDGET
    assert len(result.probes) == 2 == len(sim.calls)


def test_time_budget_does_not_start_a_point_that_would_overrun() -> None:
    sim = SimSystem(rate=1000.0, point_s=10.0)
    result = search(
        sim, Target(rate=1000, p99_ms=500), SearchLimits(max_time_s=25.0), clock=sim.clock
    )
    assert result.stop is StopReason.TIME_BUDGET
    assert len(result.probes) == 2
    assert result.elapsed_s == pytest.approx(20.0)


def test_ctrl_c_keeps_the_points_measured_before_it() -> None:
    sim = SimSystem(rate=1000.0)
    clock = sim.clock

    def measure(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        if len(sim.calls) == 3:
            raise KeyboardInterrupt
        return sim(workers, buffer, load)

    result = search(measure, Target(rate=1000, p99_ms=500), SearchLimits(), clock=clock)
    assert result.stop is StopReason.INTERRUPTED
    assert len(result.probes) == 3


def test_a_failed_confirmation_steps_up_one_step() -> None:
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    seen: dict[tuple[int, int], int] = {}

    def flaky(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        m = sim(workers, buffer, load)
        seen[(workers, buffer)] = seen.get((workers, buffer), 0) + 1
        if load is ProbeLoad.TARGET and workers == 11 and seen[(workers, buffer)] == 2:
            return ProbeResult(throughput=200, p99_ms=900, lost=0, cpu_percent=1, memory_mb=1)
        return m

    result = search(
        flaky, Target(rate=200, p99_ms=500), SearchLimits(send_s_hint=0.05), clock=sim.clock
    )
    assert result.workers == 12
    assert result.confirmed


def test_on_probe_sees_every_probe_in_order() -> None:
    sim = SimSystem(rate=100.0)
    seen: list[Probe] = []
    result = search(
        sim, Target(rate=100, p99_ms=500), SearchLimits(), clock=sim.clock, on_probe=seen.append
    )
    assert tuple(seen) == result.probes
    assert [p.index for p in seen] == list(range(len(seen)))


def test_losses_fail_a_point() -> None:
    target = Target(rate=10, p99_ms=100)
    m = ProbeResult(throughput=10, p99_ms=50, lost=1, cpu_percent=0, memory_mb=0)
    assert target.failures(m) == ["1 lost"]


@pytest.mark.parametrize(
    "kwargs", [{"max_workers": 0}, {"max_points": 0}, {"precision": 1.5}, {"headroom": 0.5}]
)
def test_limits_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SearchLimits(**kwargs)  # type: ignore[arg-type]


def test_manual_clock_is_what_limits_read() -> None:
    clock = ManualClock(now=100.0)
    sim = SimSystem(rate=10.0, clock=clock)
    result = search(sim, Target(rate=10, p99_ms=500), SearchLimits(), clock=clock)
    assert result.elapsed_s == pytest.approx(sim.point_s * len(result.probes))


def test_a_setting_that_keeps_failing_when_re_measured_is_not_recommended() -> None:
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)

    def noisy(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        m = sim(workers, buffer, load)
        confirming = len(sim.calls) > 3
        if confirming:
            return ProbeResult(throughput=150, p99_ms=900, lost=0, cpu_percent=1, memory_mb=1)
        return m

    result = search(
        noisy, Target(rate=200, p99_ms=500), SearchLimits(send_s_hint=0.05), clock=sim.clock
    )
    assert result.stop is StopReason.UNCONFIRMED
    assert result.workers is None
    confirms = [p for p in result.probes if p.phase is Phase.CONFIRM]
    assert [p.workers for p in confirms] == [11, 12, 14]  # a step, then 15% more


def test_a_point_that_cannot_run_ends_the_search_and_keeps_the_rest() -> None:
    from poolbench.errors import RunError

    sim = SimSystem(rate=1000.0)

    def broken(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        if len(sim.calls) == 2:
            raise RunError("the consumer never got ready")
        return sim(workers, buffer, load)

    result = search(broken, Target(rate=1000, p99_ms=500), SearchLimits(), clock=sim.clock)
    assert result.stop is StopReason.FAILED
    assert len(result.probes) == 2
    assert result.error is not None and "never got ready" in result.error


def test_a_harness_that_cannot_carry_the_rate_ends_the_search() -> None:
    sim = SimSystem(rate=800.0, sigma=0.0, kappa=0.0, harness_max=500.0, cpu_per_email=0.0)
    result = search(sim, Target(rate=800, p99_ms=500), SearchLimits(), clock=sim.clock)
    assert result.stop is StopReason.UNREACHABLE
    assert result.knee is not None and not result.knee.reached
    assert "harness" in result.knee.reason


def test_a_small_step_without_gain_is_noise_not_a_verdict() -> None:
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    noisy = {19: 163.0, 26: 155.0}  # a dip measured at 26 workers

    def measure(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        m = sim(workers, buffer, load)
        if workers in noisy and load is ProbeLoad.TARGET:
            return ProbeResult(
                throughput=noisy[workers], p99_ms=1000, lost=0, cpu_percent=30, memory_mb=50
            )
        return m

    limits = SearchLimits(first_guess=19, max_time_s=1e9)
    result = search(measure, Target(rate=200, p99_ms=500), limits, clock=sim.clock)
    assert [p.workers for p in result.probes][:3] == [19, 26, 37]
    assert result.stop is StopReason.DONE
    assert result.workers is not None


def test_an_overloaded_point_does_not_send_the_next_guess_past_4x() -> None:
    sim = SimSystem(rate=2000.0, sigma=0.0, kappa=0.0)

    def measure(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        m = sim(workers, buffer, load)
        # Overload inflates the measured send time tenfold.
        return dataclasses.replace(m, send_ms=500.0 if m.throughput < 1900 else 50.0)

    limits = SearchLimits(first_guess=10, max_time_s=1e9)
    result = search(measure, Target(rate=2000, p99_ms=500), limits, clock=sim.clock)
    workers = [p.workers for p in result.probes if p.phase is Phase.WORKERS]
    assert all(b <= 4 * a for a, b in itertools.pairwise(workers))
    assert result.workers is not None


def test_a_budget_inside_the_worker_bracket_keeps_the_smallest_pass_seen() -> None:
    sim = SimSystem(rate=1000.0)
    result = search(sim, Target(rate=1000, p99_ms=500), SearchLimits(max_points=4), clock=sim.clock)
    assert result.stop is StopReason.POINT_BUDGET
    passing = [p for p in result.probes if p.meets]
    assert passing, result.probes
    assert result.workers == min(p.workers for p in passing)
    assert not result.buffer_searched and not result.confirmed


def test_p99_margin_tightens_the_bar() -> None:
    m = ProbeResult(throughput=100, p99_ms=450, lost=0, cpu_percent=0, memory_mb=0)
    assert Target(rate=100, p99_ms=500).failures(m) == []
    assert Target(rate=100, p99_ms=500, p99_margin=0.2).failures(m) == ["p99 450 ms > 400 ms"]
    with pytest.raises(ConfigError):
        Target(rate=100, p99_ms=500, p99_margin=1.0)
