"""Models fitted to measured capacity points, to read between (not far beyond) them.

Below the knee, Little's law: N busy workers each taking S seconds per email carry N / S
emails per second, so capacity is linear in N with slope lambda = 1 / S. Across the knee, the
Universal Scalability Law (Gunther):

    C(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))

sigma is contention (a serial share), kappa coherency (crosstalk that makes more workers slower).
The fit minimises squared relative error: for fixed (sigma, kappa) the best lambda has a closed
form, so only two parameters are searched, on a log grid and then by a shrinking pattern search.
No scipy. Pure functions; every fit reports its error against the points it was fitted to and
the worker range those points cover: outside it the model is an extrapolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityPoint:
    """A measured throughput at N workers when the workers, not the offered load, limited it."""

    workers: int
    throughput: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LittleFit:
    per_worker_rate: float  # lambda, emails per second per busy worker
    points: int
    n_min: int
    n_max: int
    rms_rel_error: float
    max_rel_error: float

    @property
    def send_ms(self) -> float:
        """The mean time one worker spends per email that the fit implies (1 / lambda)."""
        return 1000.0 / self.per_worker_rate

    def predict(self, workers: float) -> float:
        return self.per_worker_rate * workers


@dataclass(frozen=True, slots=True, kw_only=True)
class UslFit:
    lam: float
    sigma: float
    kappa: float
    points: int
    n_min: int
    n_max: int
    rms_rel_error: float
    max_rel_error: float

    def predict(self, workers: float) -> float:
        return usl(workers, lam=self.lam, sigma=self.sigma, kappa=self.kappa)

    @property
    def peak_workers(self) -> float | None:
        """Where C(N) peaks (sqrt((1 - sigma) / kappa)); None when it never turns down."""
        if self.kappa <= 0 or self.sigma >= 1:
            return None
        return math.sqrt((1 - self.sigma) / self.kappa)

    def supported(self, workers: float) -> bool:
        """Is `workers` inside the range the fitted points cover?"""
        return self.n_min <= workers <= self.n_max


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFit:
    points: tuple[CapacityPoint, ...]
    little: LittleFit | None
    usl: UslFit | None
    notes: tuple[str, ...]


def usl(workers: float, *, lam: float, sigma: float, kappa: float) -> float:
    n = workers
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def _rel_errors(points: Sequence[CapacityPoint], predict: list[float]) -> tuple[float, float]:
    errs = [abs(f - p.throughput) / p.throughput for p, f in zip(points, predict, strict=True)]
    return math.sqrt(sum(e * e for e in errs) / len(errs)), max(errs)


def fit_little(points: Sequence[CapacityPoint], *, up_to: int | None = None) -> LittleFit | None:
    """Capacity = lambda x N through the origin, over the points at or below `up_to` workers."""
    use = [p for p in points if up_to is None or p.workers <= up_to]
    if not use:
        return None
    # Least squares on relative error: minimise sum((lambda N - C) / C)^2.
    num = sum(p.workers / p.throughput for p in use)
    den = sum((p.workers / p.throughput) ** 2 for p in use)
    lam = num / den
    rms, worst = _rel_errors(use, [lam * p.workers for p in use])
    return LittleFit(
        per_worker_rate=lam,
        points=len(use),
        n_min=min(p.workers for p in use),
        n_max=max(p.workers for p in use),
        rms_rel_error=rms,
        max_rel_error=worst,
    )


def _best_lambda(
    points: Sequence[CapacityPoint], sigma: float, kappa: float
) -> tuple[float, float]:
    """The lambda minimising relative squared error for given (sigma, kappa), and that error."""
    gs = [usl(p.workers, lam=1.0, sigma=sigma, kappa=kappa) for p in points]
    num = sum(g / p.throughput for g, p in zip(gs, points, strict=True))
    den = sum((g / p.throughput) ** 2 for g, p in zip(gs, points, strict=True))
    lam = num / den
    sse = sum((lam * g / p.throughput - 1) ** 2 for g, p in zip(gs, points, strict=True))
    return lam, sse


def _log_grid(lo: float, hi: float, count: int) -> list[float]:
    step = (math.log(hi) - math.log(lo)) / (count - 1)
    return [0.0] + [math.exp(math.log(lo) + i * step) for i in range(count)]


def fit_usl(points: Sequence[CapacityPoint]) -> UslFit | None:
    """The USL least-squares fit; None with fewer than three distinct worker counts."""
    if len({p.workers for p in points}) < 3:
        return None
    best = (math.inf, 0.0, 0.0)
    for sigma in _log_grid(1e-5, 0.99, 40):
        for kappa in _log_grid(1e-8, 0.5, 40):
            _, sse = _best_lambda(points, sigma, kappa)
            if sse < best[0]:
                best = (sse, sigma, kappa)
    sse, sigma, kappa = best
    # Pattern search from the grid's best: try a step each way, halve the steps when stuck.
    ds, dk = max(sigma, 1e-3) / 2, max(kappa, 1e-6) / 2
    for _ in range(4000):
        if ds < 1e-12 and dk < 1e-15:
            break
        moved = False
        for s, k in (
            (sigma + ds, kappa),
            (sigma - ds, kappa),
            (sigma, kappa + dk),
            (sigma, kappa - dk),
        ):
            if s < 0 or k < 0 or s >= 1:
                continue
            _, e = _best_lambda(points, s, k)
            if e < sse:
                sse, sigma, kappa, moved = e, s, k, True
                break
        if not moved:
            ds, dk = ds / 2, dk / 2
    lam, _ = _best_lambda(points, sigma, kappa)
    fitted = [usl(p.workers, lam=lam, sigma=sigma, kappa=kappa) for p in points]
    rms, worst = _rel_errors(points, fitted)
    return UslFit(
        lam=lam,
        sigma=sigma,
        kappa=kappa,
        points=len(points),
        n_min=min(p.workers for p in points),
        n_max=max(p.workers for p in points),
        rms_rel_error=rms,
        max_rel_error=worst,
    )


def fit(points: Sequence[CapacityPoint], *, knee_workers: int | None) -> ModelFit:
    """Little's law below the knee and the USL across all points, with notes on their limits."""
    notes = []
    # Strictly below the knee where there are such points: the knee itself may already bend.
    below = None if knee_workers is None else knee_workers - 1
    little = fit_little(points, up_to=below) or fit_little(points, up_to=knee_workers)
    model = fit_usl(points)
    if not points:
        notes.append("no capacity points measured: no model")
    elif model is None:
        notes.append(
            "fewer than three worker counts measured at capacity: no USL fit, Little's law only"
        )
    else:
        notes.append(
            f"measured range {model.n_min}-{model.n_max} workers; "
            "predictions outside it are extrapolations the data does not support"
        )
        peak = model.peak_workers
        if peak is not None and peak > model.n_max:
            notes.append(
                f"the fitted peak at {peak:.0f} workers lies beyond the measured range: "
                "an extrapolation, not a measurement"
            )
        if knee_workers is None:
            notes.append("no knee measured: sigma and kappa are weakly constrained")
    return ModelFit(points=tuple(points), little=little, usl=model, notes=tuple(notes))
