"""Which charts `chart_figures` draws for a result set."""

from __future__ import annotations

import pytest

from tests import synthetic
from tests.report.artists import figures_by_name


@pytest.mark.parametrize("name", ["budget.png", "priority-1.png"])
def test_charts_without_their_data_are_not_drawn(name: str) -> None:
    assert name not in figures_by_name(synthetic.seed_table())


def test_the_budget_legend_covers_no_bar() -> None:
    import dataclasses

    from poolbench.report.budget_chart import budget_figure
    from poolbench.results import Budget
    from tests.report.fixtures import faults

    budget = Budget(
        emails=100, new_connections=10, send_ms=21.0, connect_ms=0.5, handshake_ms=0.3,
        client_ms=0.2, server_latency_ms=20.0, server_ms=0.1, residual_ms=-0.1, after_ms=0.2,
    )  # fmt: skip
    result_set = faults()
    points = tuple(dataclasses.replace(p, budget_ms=budget) for p in result_set.points)
    figure = budget_figure(dataclasses.replace(result_set, points=points))
    assert figure is not None
    figure.canvas.draw()
    (ax,) = figure.axes
    inside = ax.get_legend()
    legends = [*figure.legends, *([inside] if inside is not None else [])]
    assert legends
    for legend in legends:
        box = legend.get_window_extent()
        for bar in ax.patches:
            assert not box.overlaps(bar.get_window_extent()), bar
