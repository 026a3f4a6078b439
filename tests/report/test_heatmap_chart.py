"""The workers x buffer heatmap rendered from a fixture grid, checked on its images."""

from __future__ import annotations

from matplotlib.colors import LogNorm

from tests import synthetic
from tests.report.artists import figures_by_name


def test_the_heatmap_uses_a_log_scale_where_values_span_decades() -> None:
    figure = figures_by_name(synthetic.grid())["heatmap.png"]
    throughput, p99 = (ax for ax in figure.axes if ax.images)
    assert not isinstance(throughput.images[0].norm, LogNorm)  # 44 to 287: linear
    assert isinstance(p99.images[0].norm, LogNorm)  # 108 ms to 43 s
    assert any("log scale" in ax.get_ylabel() for ax in figure.axes)
