"""`tune` talks: what it will do, each point, why it stopped, numbered alike everywhere,
and no model figure far outside the measured range without a warning."""

from __future__ import annotations

import io

from poolbench.cli.tune import _console, start_line
from poolbench.scenario.estimate import estimate_s
from poolbench.tune.advice import recommend
from poolbench.tune.measured import base_scenario
from poolbench.tune.model import UslFit
from poolbench.tune.probes import SearchLimits, StopReason, Target
from poolbench.tune.search import search
from poolbench.tune.writeup import render_markdown, stop_line, to_dict, usl_peak
from tests.tune.sim import SimSystem, tuned


def test_the_start_line_gives_the_point_budget_and_an_estimate() -> None:
    base = base_scenario(rate=300, sink_latency="50ms", duration_s=10, warmup_s=3)
    target = Target(rate=300, p99_ms=500)
    line = start_line(base, target, SearchLimits(max_points=12, max_time_s=600))
    assert "300/s" in line and "500 ms" in line
    each = estimate_s(base, 2) - estimate_s(base, 1)  # a point: its parts, load and stop
    assert f"at most 12 points of about {each:.0f} s each" in line
    assert f"up to about {estimate_s(base, 12) / 60:.0f} min (--max-time 10 min)" in line


def test_a_knee_search_that_runs_out_says_so_not_done() -> None:
    # Scales linearly and never saturates its CPU: no knee in reach.
    sim = SimSystem(rate=100.0, sigma=0.0, kappa=0.0, cpu_per_email=0.0)
    limits = SearchLimits(max_time_s=1e9, max_points=100)
    result = search(sim, Target(rate=100, p99_ms=500), limits, clock=sim.clock)
    assert result.knee is not None and not result.knee.reached
    assert result.stop is StopReason.KNEE_LIMIT
    line = stop_line(recommend(result))
    assert "stopped: done" not in line
    assert "the knee search used its points" in line and "not reached up to" in line


def test_points_are_numbered_from_1_in_the_markdown_and_the_json() -> None:
    sim, target = tuned(100.0, sigma=0.05, kappa=0.0005)
    rec = recommend(search(sim, target, SearchLimits(), clock=sim.clock))
    rows = [line for line in render_markdown(rec).splitlines() if line.startswith("| ")][1:]
    assert [row.split("|")[1].strip() for row in rows] == [
        str(n) for n in range(1, len(rec.probes) + 1)
    ]
    assert [p["number"] for p in to_dict(rec)["probes"]] == list(range(1, len(rec.probes) + 1))


def test_a_usl_peak_far_past_the_measured_range_is_called_an_extrapolation() -> None:
    # The fit: a peak at ~1297 workers from points measured up to 320.
    far = UslFit(
        lam=20.0,
        sigma=0.0,
        kappa=5.9e-7,
        points=5,
        n_min=5,
        n_max=320,
        rms_rel_error=0.05,
        max_rel_error=0.1,
    )
    sentence = usl_peak(far)
    assert "at 1302 workers, an extrapolation to more than 2x the largest measured count" in (
        sentence
    )
    near = UslFit(
        lam=20.0,
        sigma=0.0,
        kappa=1e-4,
        points=5,
        n_min=5,
        n_max=80,
        rms_rel_error=0.05,
        max_rel_error=0.1,
    )
    assert "extrapolation" not in usl_peak(near)  # peak at 100 workers: within 2x


def test_piped_output_never_breaks_a_line() -> None:
    out = io.StringIO()
    console = _console(stderr=False, file=out)
    verdict = "p99 612 ms over 400 ms (500 ms less the 20% margin); throughput 280/s < 300/s"
    console.print(f"[7/12] workers 40 workers, buffer 40, target: 281.0/s -> {verdict}")
    assert out.getvalue().count("\n") == 1
