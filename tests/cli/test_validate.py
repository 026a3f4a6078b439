from pathlib import Path

from tests.cli.run import ROOT, poolbench


def test_valid_scenario_lists_its_points() -> None:
    done = poolbench("validate", ROOT / "scenarios" / "grid.yaml")
    assert done.returncode == 0, done.stderr
    assert "grid: valid, 12 point(s) to run" in done.stdout
    assert "consumer.workers" in done.stdout
    assert "gate: lost == 0" in done.stdout


def test_invalid_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("name: bad\nsweep:\n  consumer.workers: [1, 5, 0]\n")
    done = poolbench("validate", file)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"poolbench: error: {file}:sweep.consumer.workers[2]: must be at least 1, got 0\n"
    )


def test_missing_file_exit_2(tmp_path: Path) -> None:
    done = poolbench("validate", tmp_path / "nope.yaml")
    assert done.returncode == 2
    assert "no such scenario file" in done.stderr
