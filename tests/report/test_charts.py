"""Which charts `chart_figures` draws for a result set."""

from __future__ import annotations

import pytest

from tests import synthetic
from tests.report.artists import figures_by_name


@pytest.mark.parametrize("name", ["budget.png", "priority-1.png"])
def test_charts_without_their_data_are_not_drawn(name: str) -> None:
    assert name not in figures_by_name(synthetic.seed_table())
