from __future__ import annotations

from pathlib import Path

from poolbench.report.tune_chart import tune_chart
from poolbench.tune.advice import recommend
from poolbench.tune.search import SearchLimits, Target, search
from tests.tune.sim import SimSystem


def test_tune_chart_writes_a_png(tmp_path: Path) -> None:
    sim = SimSystem(rate=300.0, sigma=0.02, kappa=0.0002)
    rec = recommend(search(sim, Target(rate=300, p99_ms=500), SearchLimits(), clock=sim.clock))
    out = tune_chart(rec, tmp_path / "charts" / "tune.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
