from __future__ import annotations

import pytest

from poolbench.consumer.settings import SETTINGS, load_settings
from poolbench.tune.advice import capacity_points, recommend, seed_buffer
from poolbench.tune.model import CapacityPoint
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
from poolbench.tune.writeup import render_markdown, to_dict
from tests.tune.sim import SimSystem, tuned


def test_recommendation_at_200_per_s() -> None:
    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    assert rec.workers == 11
    assert rec.env == {
        "EMAIL_WORKER_COUNT": "11",
        "EMAIL_WORKER_BUFFER": str(rec.buffer),
        "POOLBENCH_CONNECTION_REUSE": "on",
    }
    assert rec.flags == f"--workers 11 --buffer {rec.buffer} --connection-reuse on"
    assert rec.ceiling is not None
    # 11 workers of 50 ms carry 220/s: 10% over 200/s.
    assert rec.headroom == pytest.approx(220 / 200 - 1)
    b = rec.buffer_advice
    assert b is not None
    assert b.burst_emails == rec.buffer == 11
    assert b.worst_delay_ms == pytest.approx(1000 * 11 / 220)
    assert b.seed_buffer == 500 and not b.seed_needed
    assert b.seed_worst_delay_ms == pytest.approx(1000 * 500 / 220)
    assert rec.model.little is not None
    assert rec.model.little.send_ms == pytest.approx(50.0)


def test_the_advice_is_read_back_by_the_consumer_as_the_setting_it_names() -> None:
    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    by_env = load_settings({}, rec.env)
    words = rec.flags.split()
    field = {spec.flag: spec.field for spec in SETTINGS}
    flags = {field[flag]: value for flag, value in zip(words[::2], words[1::2], strict=True)}
    by_flags = load_settings(flags, {})
    for settings in (by_env, by_flags):
        assert (settings.workers, settings.buffer) == (rec.workers, rec.buffer)


@pytest.mark.parametrize(("rate", "expected"), [(5, 50), (10, 100), (100, 100), (101, 500)])
def test_seed_buffer_rule(rate: float, expected: int) -> None:
    assert seed_buffer(rate) == expected


def test_an_interrupted_search_does_not_judge_the_buffer() -> None:

    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)

    def measure(workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        if len(sim.calls) == 2:  # after the worker bracket (11 passes, 10 fails)
            raise KeyboardInterrupt
        return sim(workers, buffer, load)

    rec = recommend(search(measure, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    assert rec.stop is StopReason.INTERRUPTED
    assert rec.workers == 11 and rec.buffer == 100
    assert rec.buffer_advice is not None and rec.buffer_advice.seed_needed is None
    text = render_markdown(rec)
    assert "Partial result" in text
    assert "not known" in text


def test_little_headroom_is_flagged_with_the_workers_for_ten_percent() -> None:
    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    # 11 workers carry 220/s: 10% exactly; 15% would need ceil(11 x 230 / 220) = 12.
    assert rec.workers_for_headroom(0.15) == 12
    assert rec.workers_for_headroom(0.1) == 11
    assert "little headroom" not in render_markdown(rec)


def test_the_margin_is_explained() -> None:
    sim = SimSystem(rate=200.0)
    target = Target(rate=200, p99_ms=500, p99_margin=0.2)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    assert "at most 400 ms (20% margin)" in render_markdown(rec)
    assert rec.at_setting is not None and rec.at_setting.measurement.p99_ms <= 400


def test_the_recommendation_names_the_connection_mode_that_was_measured() -> None:
    """tune measured a new connection per email, then recommended a command whose default
    keeps connections: a different configuration."""
    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)
    result = search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock)
    rec = recommend(result, consumer={"connection_reuse": False, "max_retries": 1})
    assert rec.env["POOLBENCH_CONNECTION_REUSE"] == "off"
    assert rec.env["POOLBENCH_MAX_RETRIES"] == "1"
    assert "--connection-reuse off" in rec.command
    assert rec.command.startswith("poolbench consume --workers 11 ")
    assert load_settings({}, rec.env).connection_reuse is False
    assert "--connection-reuse off" in render_markdown(rec)


def test_headroom_is_required_and_stated() -> None:
    """A 100.5/s ceiling for a 100/s target (0% headroom) was recommended."""
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    target = Target(rate=200.0, p99_ms=500, headroom=0.2)
    result = search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock)
    rec = recommend(result)
    # 11 workers carry 220/s (10%): the search goes on to a setting with 20%.
    assert rec.workers is not None and rec.workers >= 12
    assert rec.headroom is not None and rec.headroom >= 0.2
    assert rec.headroom_met and result.stop is StopReason.DONE
    text = render_markdown(rec)
    assert "(20% asked for)" in text
    assert to_dict(rec)["headroom_met"] is True


def test_no_setting_with_the_headroom_is_not_a_recommendation() -> None:
    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    target = Target(rate=200.0, p99_ms=500, headroom=0.2)
    result = search(sim, target, SearchLimits(send_s_hint=0.05, max_workers=11), clock=sim.clock)
    rec = recommend(result)
    assert result.stop is StopReason.NO_HEADROOM and not rec.headroom_met
    assert "not enough headroom" in render_markdown(rec)


def test_the_terminal_summary_is_a_table_with_the_command_and_the_headroom() -> None:
    from rich.console import Console

    from poolbench.cli.tune import _print_summary

    sim = SimSystem(rate=200.0, sigma=0.0, kappa=0.0)
    target = Target(rate=200.0, p99_ms=500, headroom=0.2)
    result = search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock)
    rec = recommend(result, consumer={"connection_reuse": False})
    console = Console(record=True, width=80)
    _print_summary(rec, console)
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "verdict" in text and text.count(" ok") >= 1
    assert f"recommended: {rec.workers} workers" in text
    assert "--connection-reuse off" in text
    assert "POOLBENCH_CONNECTION_REUSE=off" in text
    assert "(20% asked for)" in text


def probe(workers: int, load: ProbeLoad, throughput: float, *, harness: bool = False) -> Probe:
    m = ProbeResult(
        throughput=throughput,
        p99_ms=10,
        lost=0,
        cpu_percent=0,
        memory_mb=0,
        harness_limited=harness,
    )
    return Probe(
        index=0,
        phase=Phase.WORKERS,
        workers=workers,
        buffer=1,
        load=load,
        measurement=m,
        failures=(),
        started_s=0,
        duration_s=0,
    )


def test_capacity_points_are_saturated_points_that_the_harness_did_not_limit() -> None:
    target = Target(rate=100, p99_ms=500)
    probes = [
        probe(2, ProbeLoad.TARGET, 40.0),  # short of the rate: capacity
        probe(10, ProbeLoad.TARGET, 100.0),  # carried the rate: only a lower bound, left out
        probe(10, ProbeLoad.SATURATE, 180.0),
        probe(40, ProbeLoad.SATURATE, 500.0, harness=True),  # the sink's ceiling, left out
    ]
    assert capacity_points(probes, target) == [
        CapacityPoint(workers=2, throughput=40.0),
        CapacityPoint(workers=10, throughput=180.0),
    ]
