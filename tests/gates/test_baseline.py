import dataclasses
import json
from pathlib import Path

import pytest

from poolbench.errors import GateInputError
from poolbench.gates.baseline import load_input, resolve_results, save_baseline
from poolbench.results import PointResult, TimelineSample, save
from tests.gates.factories import point, result_set


def _with_timeline() -> list[PointResult]:
    sample = TimelineSample(t_s=1.0, delivered_per_s=99.0, queue_depth=3, p99_ms=120, rss_mb=60)
    return [dataclasses.replace(point(), timeline=(sample,), histogram="HISTFAAAA")]


def test_save_baseline_round_trips_without_timelines(tmp_path: Path) -> None:
    run_dir = tmp_path / "results" / "quick" / "20261127T210000Z"
    original = result_set(_with_timeline())
    save(original, run_dir)
    dest = save_baseline(run_dir, tmp_path / "results" / "baselines" / "quick.json")
    assert dest.name == "quick.json"
    loaded = load_input(dest, role="baseline")
    assert loaded.points[0].timeline == ()
    assert loaded.points[0].histogram is None
    assert loaded.points[0].throughput_per_s == original.points[0].throughput_per_s
    assert loaded.environment == original.environment
    assert loaded.scenario_hash == original.scenario_hash


def test_save_baseline_accepts_a_results_file(tmp_path: Path) -> None:
    file = save(result_set([point()]), tmp_path / "run")
    dest = save_baseline(file, tmp_path / "b.json")
    assert json.loads(dest.read_text())["points"][0]["params"] == {"consumer.workers": 5}


def test_missing_and_mismatched_inputs_are_gate_input_errors(tmp_path: Path) -> None:
    with pytest.raises(GateInputError, match=r"baseline: .*no such results file"):
        load_input(tmp_path / "nothing.json", role="baseline")
    file = save(result_set([point()]), tmp_path / "run")
    data = json.loads(file.read_text())
    data["schema_version"] = 99
    file.write_text(json.dumps(data))
    with pytest.raises(GateInputError, match="schema version 99"):
        load_input(file, role="current")


def test_bad_destination_and_empty_results_are_refused(tmp_path: Path) -> None:
    save(result_set([point()]), tmp_path / "run")
    with pytest.raises(GateInputError, match=r"\.json"):
        save_baseline(tmp_path / "run", tmp_path / "baseline.txt")
    save(result_set([]), tmp_path / "empty")
    with pytest.raises(GateInputError, match="no points"):
        save_baseline(tmp_path / "empty", tmp_path / "b.json")


def test_a_scenario_directory_means_its_latest_run(tmp_path: Path) -> None:
    scenario_dir = tmp_path / "results" / "quick"
    save(result_set([point(throughput=1.0)]), scenario_dir / "20261127T200000Z")
    save(result_set([point(throughput=2.0)]), scenario_dir / "20261127T210000Z")
    (scenario_dir / "20261127T220000Z").mkdir()  # an interrupted run without results
    assert resolve_results(scenario_dir) == scenario_dir / "20261127T210000Z" / "results.json"
    assert load_input(scenario_dir, role="current").points[0].throughput_per_s == 2.0
    with pytest.raises(GateInputError, match="no such results file"):
        load_input(tmp_path / "results", role="current")
