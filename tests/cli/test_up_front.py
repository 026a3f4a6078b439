"""Everything the user can get wrong is found before any load runs: exit 2, one line."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from poolbench.results import save
from tests.cli.run import ROOT, poolbench
from tests.gates.factories import point, result_set

SUBCOMMANDS = (
    *("broker", "produce", "consume", "sink", "validate"),
    *("report", "show", "run", "tune", "gate", "merge", "init"),
)


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    returncode, stderr = done.returncode, done.stderr
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr
    for needle in needles:
        assert needle in stderr, stderr


def test_run_out_to_a_file_fails_before_the_load(tmp_path: Path) -> None:
    """It ran the whole load, then died with a NotADirectoryError traceback and exit 1."""
    file = tmp_path / "results.txt"
    file.write_text("")
    began = time.monotonic()
    done = poolbench("run", ROOT / "scenarios" / "quick.yaml", "--out", file)
    _one_line_exit_2(done, "--out:", "is a file, not a folder")
    assert time.monotonic() - began < 20  # the scenario's load alone takes 16 s


def test_tune_out_to_a_file_fails_before_the_search(tmp_path: Path) -> None:
    file = tmp_path / "tune.txt"
    file.write_text("")
    done = poolbench("tune", "--rate", "50/s", "--p99", "500ms", "-o", file, "-q")
    _one_line_exit_2(done, "--out:", "is a file")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # p99 10 ms with a 50 ms sink: impossible, said before anything runs.
        (["--rate", "100/s", "--p99", "10ms", "--sink-latency", "50ms"], ["--p99:", "50 ms"]),
        (["--rate", "0/s", "--p99", "500ms"], ["--rate:", "must be positive"]),
        (["--rate", "1000/s", "--p99", "1s", "--max-workers", "10"], ["--max-workers:"]),
        (["--rate", "10/s", "--p99", "1s", "--p99-margin", "0.2"], ["--p99-margin:", "'0.2%'"]),
        (["--rate", "10/s", "--p99", "1s", "--headroom", "20"], ["--headroom:", "'20%'"]),
    ],
)
def test_tune_rejects_impossible_targets_up_front(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    done = poolbench("tune", *args, "--out", tmp_path)
    _one_line_exit_2(done, *needles)
    assert not (tmp_path / "tune").exists()


def _run_folder(root: Path) -> Path:
    return save(result_set([point(workers=5)]), root / "quick" / "20260101T000000Z").parent


def test_report_out_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = poolbench("report", run, "-o", blocker / "report")
    _one_line_exit_2(done, "--out:", "is a file")


def test_show_and_report_accept_a_scenario_folder(tmp_path: Path) -> None:
    """`show results/quick` failed while `gate results/quick` accepted the same folder."""
    run = _run_folder(tmp_path)
    shown = poolbench("show", tmp_path / "quick")
    assert shown.returncode == 0, shown.stderr
    reported = poolbench("report", tmp_path / "quick")
    assert reported.returncode == 0, reported.stderr
    assert (run / "report.md").exists()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_has_typer_metavars_and_the_same_short_flags(command: str) -> None:
    done = poolbench(command, "--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for raw in ("<bool>", "<str>", "<int", "<float", "<path>", "<list"):
        assert raw not in text, (command, raw)
    rows = [line.strip("│ ") for line in text.splitlines()]
    for long, short in (("--out", "-o"), ("--quiet", "-q")):
        for row in rows:
            if row.startswith(long + " "):
                assert row.split()[1] == short, (command, row)
