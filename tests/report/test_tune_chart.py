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
    assert 300 in [line.get_ydata()[0] for line in throughput_ax.get_lines()]
    assert 500 in [line.get_ydata()[0] for line in p99_ax.get_lines()]
    p99s = {p.measurement.p99_ms for p in rec.probes if p.load.name == "TARGET"}
    plotted = {float(y) for c in p99_ax.collections for _x, y in c.get_offsets()}
    assert p99s == plotted
    assert not any(float(y) in p99s for c in throughput_ax.collections for _x, y in c.get_offsets())
