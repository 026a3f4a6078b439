"""Scenario loading: parse, validate and expand every point, against `yaml.safe_load`."""

from pathlib import Path

import pytest
import yaml
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.scenario import expand, load_scenario

GRID = Path(__file__).resolve().parents[1] / "scenarios" / "grid.yaml"


@pytest.mark.benchmark(group="scenario-load")
def test_load_and_expand(benchmark: BenchmarkFixture) -> None:
    points = benchmark(lambda: expand(load_scenario(GRID)))
    assert len(points) == 12


@pytest.mark.benchmark(group="scenario-load")
def test_baseline_yaml_safe_load(benchmark: BenchmarkFixture) -> None:
    data = benchmark(lambda: yaml.safe_load(GRID.read_text()))
    assert data["name"] == "grid"
