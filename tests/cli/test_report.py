import json
from pathlib import Path

import pytest

from poolbench.results import save
from tests import synthetic
from tests.cli.run import poolbench


@pytest.mark.slow
def test_report_rebuilds_files_from_results_json(tmp_path: Path) -> None:
    save(synthetic.seed_table(), tmp_path)
    done = poolbench("report", tmp_path)
    assert done.returncode == 0, done.stderr
    for name in (
        "report.html",
        "report.md",
        "results.csv",
        "throughput.png",
        "latency.png",
        "memory.png",
    ):
        assert (tmp_path / name).is_file()
        assert f"wrote {tmp_path / name}" in done.stdout
    assert "| Workers | Buffer | Throughput |" in (tmp_path / "report.md").read_text()


def test_report_and_show_refuse_a_schema_mismatch(tmp_path: Path) -> None:
    file = save(synthetic.seed_table(), tmp_path)
    data = json.loads(file.read_text())
    data["schema_version"] = 99
    file.write_text(json.dumps(data))
    for command in ("report", "show"):
        done = poolbench(command, tmp_path)
        assert done.returncode == 2
        assert done.stderr.startswith(f"poolbench: error: {file}:schema_version: schema version 99")
    assert not (tmp_path / "report.md").exists()


def test_show_prints_the_table(tmp_path: Path) -> None:
    result_set = synthetic.seed_table(lost_at=1)
    save(result_set, tmp_path)
    done = poolbench("show", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "seed-table (4 point(s))" in done.stdout
    for header in (
        "Workers",
        "Buffer",
        "Thrpt",
        "Lat avg",
        "p99",
        "Mem",
        "%ideal",
        "Retried",
        "Status",
    ):
        assert header in done.stdout
    assert "…" not in done.stdout  # no header or cell cut short
    lost = result_set.points[1]
    assert f"point 2: lost {lost.lost} of {lost.produced}" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 100


def test_show_marks_failed_points_and_partial_runs(tmp_path: Path) -> None:
    from tests.report.fixtures import faults

    save(faults(failed=True, partial=True), tmp_path)
    done = poolbench("show", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "faults (2 point(s)) PARTIAL" in done.stdout
    assert "PARTIAL run: interrupted after 2 of 3 points; 1 of 2 point(s) measured nothing" in (
        " ".join(done.stdout.split())
    )
    rows = [line.split() for line in done.stdout.splitlines()]
    failed = next(row for row in rows if row and row[-1] == "FAILED")
    assert failed.count("n/a") >= 4  # throughput, latency avg, p99, %ideal: n/a, not 0


def test_show_says_gate_failed_in_the_status_and_prints_the_cpu_cost(tmp_path: Path) -> None:
    import dataclasses

    from poolbench.results import PartCpu
    from tests.report.test_gate_verdicts import gated

    result_set = gated()
    first = result_set.points[0]
    cost = PartCpu(
        cpu_s=0.3,
        interval_s=3.0,
        emails=1500,
        threads={"event loop": 0.25, "poolbench-poll": 0.05},
        busiest_thread="event loop",
        busiest_share=0.25 / 3.0,
    )
    with_cpu = dataclasses.replace(first, cpu_us_per_email=200.0, cpu_cost={"consumer": cost})
    result_set = result_set.with_points((with_cpu, *result_set.points[1:]))
    save(result_set, tmp_path)
    done = poolbench("show", tmp_path)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    rows = [line for line in done.stdout.splitlines() if line.rstrip().endswith("GATE FAILED")]
    assert len(rows) == sum(p.gate_failed for p in result_set.points) == 1
    assert "point 3: GATE FAILED: p99_ms < 4.5s (measured: 4816.9 < 4500)" in text
    assert (
        "point 1: CPU µs per email consumer / sink / loadgen 200 / n/a / n/a "
        "(consumer by thread: event loop 167, poolbench-poll 33.3); busiest thread, share of "
        "a core: consumer: event loop 8%" in text
    )
