from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from poolbench.report.tune_chart import tune_chart
from poolbench.tune.advice import recommend
from poolbench.tune.probes import SearchLimits, Target
from poolbench.tune.search import search
from tests.tune.sim import SimSystem


def test_tune_chart_writes_a_png(tmp_path: Path) -> None:
    sim = SimSystem(rate=300.0, sigma=0.02, kappa=0.0002)
    rec = recommend(search(sim, Target(rate=300, p99_ms=500), SearchLimits(), clock=sim.clock))
    out = tune_chart(rec, tmp_path / "charts" / "tune.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_throughput_and_p99_are_in_separate_panels() -> None:
    """p99 squares on a twin axis read as throughput: each has a panel of its own."""
    from poolbench.report.tune_chart import tune_figure

    sim = SimSystem(rate=300.0, sigma=0.02, kappa=0.0002)
    rec = recommend(search(sim, Target(rate=300, p99_ms=500), SearchLimits(), clock=sim.clock))
    figure = tune_figure(rec)
    throughput_ax, p99_ax = figure.axes
    assert throughput_ax.get_ylabel() == "throughput (emails/s)"
    assert p99_ax.get_ylabel() == "p99 end to end (ms)"
    assert p99_ax.get_shared_x_axes().joined(throughput_ax, p99_ax)

    # The target rate is drawn in the throughput panel, the p99 target in the p99 panel.
    def first_ys(ax: Axes) -> list[float]:
        return [float(np.asarray(line.get_ydata(), dtype=float)[0]) for line in ax.get_lines()]

    def scattered(ax: Axes) -> set[float]:
        return {float(y) for c in ax.collections for y in np.asarray(c.get_offsets())[:, 1]}

    assert 300 in first_ys(throughput_ax)
    assert 500 in first_ys(p99_ax)
    p99s = {p.measurement.p99_ms for p in rec.probes if p.load.name == "TARGET"}
    assert scattered(p99_ax) == p99s
    assert not scattered(throughput_ax) & p99s
