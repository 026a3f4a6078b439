from pathlib import Path

from tests.cli.run import ROOT, poolbench


def test_valid_scenario_lists_its_points() -> None:
    done = poolbench("validate", ROOT / "scenarios" / "grid.yaml")
    assert done.returncode == 0, done.stderr
    assert "grid: valid, 12 point(s) to run" in done.stdout
    assert "consumer.workers" in done.stdout
    assert "gate: lost == 0" in done.stdout
    # Not the load alone (156 s; the run took 5 min 35 s), and said to be an estimate.
    assert "estimated run time: about 5 min" in done.stdout
    assert "an estimate" in done.stdout


def test_invalid_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("name: bad\nsweep:\n  consumer.workers: [1, 5, 0]\n")
    done = poolbench("validate", file)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"poolbench: error: {file}:3: sweep.consumer.workers[2]: expected an integer >= 1, got 0\n"
    )


def test_every_problem_at_once_in_file_order_with_lines(tmp_path: Path) -> None:
    """Eight mistakes were eight round trips, and a duplicate key was silently accepted."""
    file = tmp_path / "bad.yaml"
    file.write_text(
        "name: bad\n"
        "topic:\n"
        "  partitions: 3\n"
        "  partitions: 4\n"
        "sink:\n"
        "  latency: soon\n"
        "  engin: fast\n"
        "consumer:\n"
        "  workers: ten\n"
        "  buffer: -1\n"
        "load:\n"
        "  rate: fast\n"
        "sweep:\n"
        "  consumer.workerz: [1, 2]\n"
        "gates:\n"
        "  - \"open('x') == 1\"\n"
    )
    done = poolbench("validate", file)
    assert done.returncode == 2
    first, *rest = done.stderr.splitlines()
    assert first == f"poolbench: error: {file}: 8 problems"
    assert all(line.startswith(f"  {file}:") for line in rest), done.stderr
    lines = [int(line.split(":")[1]) for line in rest]
    assert lines == sorted(lines) == [4, 6, 7, 9, 10, 12, 14, 16]
    assert "topic.partitions: duplicate key (first at line 3)" in rest[0]
    assert "sink.engin: unknown key (did you mean 'engine'?)" in rest[2]
    assert "sweep.consumer.workerz: unknown setting to sweep" in rest[6]
    assert "Traceback" not in done.stderr


def test_missing_file_exit_2(tmp_path: Path) -> None:
    done = poolbench("validate", tmp_path / "nope.yaml")
    assert done.returncode == 2
    assert "no such scenario file" in done.stderr


def test_a_foreign_command_told_neither_topic_nor_bootstrap_is_warned(tmp_path: Path) -> None:
    file = tmp_path / "foreign.yaml"
    file.write_text(
        "name: foreign\nconsumer:\n  command: ./my-consumer --topic email-queue\n"
        "  env: {SMTP_PORT: '{smtp_port}'}\n"
    )
    done = poolbench("validate", file)
    assert done.returncode == 0, done.stderr
    assert "warning: consumer.command: neither the command nor consumer.env mentions" in (
        " ".join(done.stdout.split())
    )
    told = tmp_path / "told.yaml"
    told.write_text("name: told\nconsumer:\n  command: ./my-consumer\n  env: {TOPIC: '{topic}'}\n")
    done = poolbench("validate", told)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout
