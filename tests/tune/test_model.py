from __future__ import annotations

import random

import pytest

from poolbench.tune.model import (
    CapacityPoint,
    fit,
    fit_little,
    fit_usl,
    usl,
)

COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def synthetic(lam: float, sigma: float, kappa: float, *, noise: float = 0.0) -> list[CapacityPoint]:
    rng = random.Random(7)
    return [
        CapacityPoint(
            workers=n,
            throughput=usl(n, lam=lam, sigma=sigma, kappa=kappa) * (1 + rng.uniform(-noise, noise)),
        )
        for n in COUNTS
    ]


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [(20.0, 0.02, 0.0001), (10.0, 0.1, 0.001), (95.0, 0.001, 0.00002), (20.0, 0.0, 0.0)],
)
def test_usl_fit_recovers_known_parameters(lam: float, sigma: float, kappa: float) -> None:
    model = fit_usl(synthetic(lam, sigma, kappa))
    assert model is not None
    assert model.lam == pytest.approx(lam, rel=1e-3)
    assert model.sigma == pytest.approx(sigma, rel=1e-2, abs=1e-5)
    assert model.kappa == pytest.approx(kappa, rel=1e-2, abs=1e-7)
    assert model.rms_rel_error < 1e-3
    assert (model.n_min, model.n_max) == (1, 256)


def test_usl_fit_on_noisy_data_reports_an_error_of_the_noises_size() -> None:
    points = synthetic(20.0, 0.02, 0.0001, noise=0.03)
    model = fit_usl(points)
    assert model is not None
    assert model.lam == pytest.approx(20.0, rel=0.1)
    assert 0.002 < model.rms_rel_error < 0.05
    assert model.max_rel_error <= 0.06
    peak = model.peak_workers
    assert peak is not None
    assert peak == pytest.approx((0.98 / 0.0001) ** 0.5, rel=0.3)


def test_usl_needs_three_worker_counts() -> None:
    pts = [CapacityPoint(workers=5, throughput=100), CapacityPoint(workers=10, throughput=190)]
    assert fit_usl(pts) is None
    assert fit_usl([*pts, CapacityPoint(workers=10, throughput=195)]) is None


def test_little_fit_is_the_per_worker_rate_below_the_knee() -> None:
    pts = [CapacityPoint(workers=n, throughput=19.0 * n) for n in (5, 10, 20)]
    pts.append(CapacityPoint(workers=400, throughput=2000.0))  # past the knee: left out
    little = fit_little(pts, up_to=20)
    assert little is not None
    assert little.per_worker_rate == pytest.approx(19.0)
    assert little.send_ms == pytest.approx(1000 / 19)
    assert (little.points, little.n_max) == (3, 20)
    assert little.max_rel_error == pytest.approx(0.0, abs=1e-12)
    assert fit_little([], up_to=None) is None


def test_fit_notes_say_where_extrapolation_is_unsupported() -> None:
    pts = [
        CapacityPoint(workers=n, throughput=usl(n, lam=20, sigma=0.01, kappa=1e-5))
        for n in (4, 8, 16)
    ]
    model = fit(pts, knee_workers=None)
    assert model.usl is not None
    assert not model.usl.supported(64)
    assert model.usl.supported(8)
    assert any("extrapolation" in note for note in model.notes)
    assert any("no knee" in note for note in model.notes)
    assert fit([], knee_workers=None).notes == ("no capacity points measured: no model",)
