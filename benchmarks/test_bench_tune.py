"""The tuning search beside the fixed grid it replaces, on the simulated pool of the tests.

What matters is measured points (each costs 10-20 s on real parts), so both sides count the
points they need to find the smallest worker count meeting 1,000/s with p99 under 500 ms;
the wall time per call is the search's own overhead. The grid is the plain baseline: every
count from 1 up (a linear scan stops at the first that meets the target). The model fit is
timed beside a plain least-squares line through the origin (Little's law alone).
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.tune.model import CapacityPoint, fit_little, fit_usl, usl
from poolbench.tune.probes import ProbeLoad, SearchLimits, Target
from poolbench.tune.search import search
from tests.tune.sim import SimSystem

RATE = 1000.0
TARGET = Target(rate=RATE, p99_ms=500)


def tuned_points() -> tuple[int, int]:
    sim = SimSystem(rate=RATE)
    result = search(sim, TARGET, SearchLimits(max_time_s=1e9), clock=sim.clock)
    assert result.workers is not None
    return result.workers, len(result.probes)


def grid_points() -> tuple[int, int]:
    sim = SimSystem(rate=RATE)
    for n in range(1, 2001):
        if not TARGET.failures(sim(n, max(100, 2 * n), ProbeLoad.TARGET)):
            return n, len(sim.calls)
    raise AssertionError("no worker count met the target")


@pytest.mark.parametrize("how", ["search", "grid"])
def test_points_to_find_the_smallest_pool(benchmark: BenchmarkFixture, how: str) -> None:
    found, points = benchmark(tuned_points if how == "search" else grid_points)
    benchmark.extra_info.update(found=found, points=points)
    # The search also measures buffer, ceiling and knee within its 12 points.
    assert points <= 12 if how == "search" else points > 12


POINTS = [CapacityPoint(workers=n, throughput=usl(n, lam=20, sigma=0.02, kappa=1e-4)) for n in (
    1, 2, 4, 8, 16, 32, 64, 128)]  # fmt: skip


@pytest.mark.parametrize("how", ["usl", "little"])
def test_model_fit(benchmark: BenchmarkFixture, how: str) -> None:
    fitted = benchmark(fit_usl if how == "usl" else fit_little, POINTS)
    assert fitted is not None
