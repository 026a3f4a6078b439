"""A simulated pooled consumer with a known knee, for testing the search without a harness.

Capacity follows the USL; at the target rate, p99 grows with utilisation and jumps when the
buffer is below a known need; CPU grows with throughput. Each call advances a manual clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poolbench.metrics.clock import ManualClock
from poolbench.tune.model import usl
from poolbench.tune.probes import ProbeLoad, ProbeResult, Target


@dataclass(slots=True)
class SimSystem:
    rate: float
    send_s: float = 0.05
    sigma: float = 0.002
    kappa: float = 0.00002
    buffer_need_per_worker: float = 0.0  # p99 jumps below this many buffer slots per worker
    cpu_per_email: float = 0.05  # percent of a core per email per second
    harness_max: float = float("inf")  # the sink's own ceiling
    point_s: float = 10.0
    clock: ManualClock = field(default_factory=ManualClock)
    calls: list[tuple[int, int, ProbeLoad]] = field(default_factory=list)

    def capacity(self, workers: int) -> float:
        return usl(workers, lam=1 / self.send_s, sigma=self.sigma, kappa=self.kappa)

    def __call__(self, workers: int, buffer: int, load: ProbeLoad, /) -> ProbeResult:
        self.calls.append((workers, buffer, load))
        self.clock.advance(self.point_s)
        cap = min(self.capacity(workers), self.harness_max)
        send_ms = self.send_s * 1000
        if load is ProbeLoad.SATURATE:
            throughput, p99 = cap, 5000.0
        elif self.rate >= cap:
            throughput, p99 = cap, 10_000.0
        else:
            rho = self.rate / cap
            throughput, p99 = self.rate, send_ms * (1 + 0.5 * rho / (1 - rho))
            if buffer < self.buffer_need_per_worker * workers:
                p99 += 1000.0
        return ProbeResult(
            throughput=throughput,
            p99_ms=p99,
            lost=0,
            cpu_percent=throughput * self.cpu_per_email,
            memory_mb=40 + 0.01 * workers,
            harness_limited=throughput >= self.harness_max,
        )


def tuned(rate: float, *, sigma: float = 0.002, kappa: float = 2e-5) -> tuple[SimSystem, Target]:
    """A simulated consumer at `rate` and a target of that rate with p99 under 500 ms."""
    return SimSystem(rate=rate, sigma=sigma, kappa=kappa), Target(rate=rate, p99_ms=500)
