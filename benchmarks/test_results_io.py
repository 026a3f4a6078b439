"""results.json: validated `load` against a plain `json.loads` of the same file."""

import json
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.results import ResultSet, load, save
from tests import synthetic


@pytest.fixture(scope="module")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 10 repeats of the seed table: 40 points with 8-second timelines and histograms.
    return save(synthetic.seed_table(repeats=10), tmp_path_factory.mktemp("results"))


@pytest.mark.benchmark(group="results-load")
def test_load_validated(benchmark: BenchmarkFixture, results_file: Path) -> None:
    result = benchmark(load, results_file)
    assert isinstance(result, ResultSet)
    assert len(result.points) == 40


@pytest.mark.benchmark(group="results-load")
def test_baseline_json_loads(benchmark: BenchmarkFixture, results_file: Path) -> None:
    result = benchmark(lambda: json.loads(results_file.read_text()))
    assert len(result["points"]) == 40
