from pathlib import Path
from typing import Any

import pytest

from poolbench.errors import ScenarioError
from poolbench.scenario import expand, load_scenario, parse_scenario
from poolbench.scenario.expand import sweep_errors

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _scenario(**sections: Any) -> dict[str, Any]:
    return {"name": "t", **sections}


def test_zip_pairs_in_order_and_overrides_by_dotted_path() -> None:
    scenario = parse_scenario(
        _scenario(
            consumer={"workers": 10, "buffer": 100, "retries": 5},
            sweep={"mode": "zip", "consumer.workers": [1, 5], "consumer.buffer": [10, 50]},
        )
    )
    points = expand(scenario)
    assert [dict(p.params) for p in points] == [
        {"consumer.workers": 1, "consumer.buffer": 10},
        {"consumer.workers": 5, "consumer.buffer": 50},
    ]
    second = points[1].scenario
    assert (second.consumer.workers, second.consumer.buffer) == (5, 50)
    assert second.consumer.retries == 5  # untouched settings stay
    assert second.sweep.axes == ()
    assert scenario.consumer.workers == 10  # the base is not changed


def test_grid_takes_every_combination_with_repeats_outermost() -> None:
    scenario = parse_scenario(
        _scenario(
            repeats=2,
            sweep={"mode": "grid", "consumer.workers": [1, 2, 3], "consumer.buffer": [0, 10]},
        )
    )
    points = expand(scenario)
    assert len(points) == 3 * 2 * 2
    first_round = [(p.params["consumer.workers"], p.params["consumer.buffer"]) for p in points[:6]]
    assert first_round == [(1, 0), (1, 10), (2, 0), (2, 10), (3, 0), (3, 10)]
    assert [p.repeat for p in points] == [0] * 6 + [1] * 6
    assert [p.index for p in points[6:]] == list(range(6))
    assert points[7].label == "consumer.workers=1 consumer.buffer=10 (repeat 2/2)"


def test_no_sweep_is_one_point() -> None:
    points = expand(parse_scenario(_scenario()))
    assert len(points) == 1
    assert dict(points[0].params) == {}
    assert points[0].label == "default"


def test_nested_and_string_values_are_parsed_per_point() -> None:
    scenario = parse_scenario(
        _scenario(sweep={"sink.faults.transient": [0.0, 0.1], "load.rate": ["saturate", "50/s"]})
    )
    a, b = expand(scenario)
    assert a.scenario.load.saturate
    assert b.scenario.load.rate_per_s == 50.0
    assert b.scenario.sink.faults.transient == 0.1


def test_unknown_sweep_path_is_an_error() -> None:
    # Found while parsing, beside the file's other problems, not only at expansion.
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_scenario(sweep={"consumer.worker": [1, 2]}), source="s.yaml")
    assert info.value.key == "sweep.consumer.worker"
    assert "did you mean 'consumer.workers'" in str(info.value)


def test_zip_length_mismatch_is_an_error() -> None:
    with pytest.raises(ScenarioError, match="same length") as info:
        parse_scenario(_scenario(sweep={"consumer.workers": [1, 2, 3], "consumer.buffer": [1]}))
    assert info.value.key == "sweep.consumer.buffer"


def test_bad_swept_value_names_its_position() -> None:
    # Found when the file is parsed, with its other problems (not only once expanded).
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            _scenario(sweep={"consumer.workers": [1, 5, 0]}),
            source="s.yaml",
            sweep_check=sweep_errors,
        )
    assert info.value.key == "sweep.consumer.workers[2]"
    assert str(info.value) == "s.yaml:sweep.consumer.workers[2]: expected an integer >= 1, got 0"


def test_a_bad_swept_latency_names_its_position() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            _scenario(sweep={"sink.latency": ["10ms", "normal:oops"]}),
            source="s.yaml",
            sweep_check=sweep_errors,
        )
    assert info.value.key == "sweep.sink.latency[1]"
    assert str(info.value).startswith("s.yaml:sweep.sink.latency[1]: ")


def test_cross_field_error_at_a_point() -> None:
    scenario = parse_scenario(
        _scenario(
            sink={"outages": [{"at": "4s", "duration": "1s"}]},
            load={"duration": "10s", "warmup": "0s"},
            sweep={"load.duration": ["10s", "2s"]},
        )
    )
    with pytest.raises(ScenarioError, match="after the load stops") as info:
        expand(scenario)
    assert info.value.key == "sweep"


def test_load_scenario_checks_the_sweep_too(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("name: s\nsweep:\n  consumer.workers: [1, -3]\n")
    with pytest.raises(ScenarioError, match=r"sweep\.consumer\.workers\[1\]"):
        load_scenario(file)


@pytest.mark.parametrize("file", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_is_valid(file: Path) -> None:
    scenario = load_scenario(file)
    assert scenario.name == file.stem
    assert scenario.description
    assert expand(scenario)


def test_shipped_scenarios_are_all_there() -> None:
    names = {p.stem for p in SCENARIOS.glob("*.yaml")}
    assert {"quick", "seed-table", "low", "medium", "high", "faults", "grid"} <= names
    quick = load_scenario(SCENARIOS / "quick.yaml")
    points = expand(quick)
    per_point = quick.load.warmup_s + quick.load.duration_s + quick.load.drain_s
    assert len(points) * per_point < 60
    grid = load_scenario(SCENARIOS / "grid.yaml")
    assert grid.sweep.mode == "grid"
