import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from poolbench.results import Environment, PointResult, save
from tests.gates.factories import ENVIRONMENT, point, result_set, with_env

ROOT = Path(__file__).resolve().parents[2]
BASE = [point(workers=5), point(workers=10, throughput=190.0)]


def _poolbench(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    run_dir = save(result_set(BASE), tmp_path / "results" / "quick" / "base").parent
    dest = tmp_path / "results" / "baselines" / "quick.json"
    done = _poolbench("baseline", "save", run_dir, dest)
    assert done.returncode == 0, done.stderr
    assert "baseline saved" in done.stdout
    return dest


def _current(
    tmp_path: Path, points: list[PointResult], environment: Environment = ENVIRONMENT
) -> Path:
    return save(result_set(points, environment=environment), tmp_path / "current").parent


def test_a_result_passes_against_itself(tmp_path: Path, baseline: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    done = _poolbench(
        "gate", _current(tmp_path, BASE), "--baseline", baseline,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate passed: 2 point(s) compared" in done.stdout
    assert "no significance was possible" in done.stdout
    text = summary.read_text()
    assert text.startswith("earlier step\n## poolbench gate: quick PASSED")


@pytest.mark.parametrize(
    ("doctored", "metric"),
    [
        (point(workers=5, throughput=70.0), "throughput"),
        (point(workers=5, p99=240.0), "end-to-end p99"),
        (point(workers=5, lost=1), "lost emails"),
    ],
    ids=["throughput-30%", "p99-doubled", "one-email-lost"],
)
def test_doctored_copies_fail(
    tmp_path: Path, baseline: Path, doctored: PointResult, metric: str
) -> None:
    markdown = tmp_path / "out" / "gate.md"
    done = _poolbench(
        "gate", _current(tmp_path, [doctored, BASE[1]]), "--baseline", baseline,
        "--markdown", markdown,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate FAILED: 1 regression(s)" in done.stdout
    # A failing verdict is the one written in capitals and bold.
    regressions = [line for line in markdown.read_text().splitlines() if "| **" in line]
    assert len(regressions) == 1
    assert f"| {metric} |" in regressions[0]
    assert "consumer.workers=5" in regressions[0]


def test_wider_thresholds_let_a_drop_pass(tmp_path: Path, baseline: Path) -> None:
    current = _current(tmp_path, [point(workers=5, throughput=70.0), BASE[1]])
    done = _poolbench("gate", current, "--baseline", baseline, "--max-throughput-drop", "35%")
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_mismatch_exits_2(tmp_path: Path, baseline: Path) -> None:
    data = json.loads(baseline.read_text())
    data["schema_version"] = 1
    baseline.write_text(json.dumps(data))
    done = _poolbench("gate", _current(tmp_path, BASE), "--baseline", baseline)
    assert done.returncode == 2
    assert done.stderr.startswith("poolbench: error: baseline: ")
    assert "schema version 1" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_no_matching_points_exits_2(tmp_path: Path, baseline: Path) -> None:
    done = _poolbench("gate", _current(tmp_path, [point(workers=7)]), "--baseline", baseline)
    assert done.returncode == 2
    assert "no point of the current results matches" in done.stderr


def test_missing_file_and_bad_threshold_exit_2(tmp_path: Path, baseline: Path) -> None:
    missing = _poolbench("gate", tmp_path / "nowhere", "--baseline", baseline)
    assert missing.returncode == 2
    assert "no such results file" in missing.stderr
    bad = _poolbench(
        "gate", _current(tmp_path, BASE), "--baseline", baseline, "--max-p99-rise", "lots"
    )
    assert bad.returncode == 2
    assert "--max-p99-rise" in bad.stderr


def test_another_environment_needs_allow_env_change(tmp_path: Path, baseline: Path) -> None:
    current = _current(tmp_path, BASE, environment=with_env(cpu_count=16))
    refused = _poolbench("gate", current, "--baseline", baseline)
    assert refused.returncode == 2
    assert "cpu_count: 2 != 16" in refused.stderr
    allowed = _poolbench("gate", current, "--baseline", baseline, "--allow-env-change")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "compared anyway" in allowed.stdout


def test_baseline_save_refuses_a_bad_destination(tmp_path: Path) -> None:
    run_dir = save(result_set(BASE), tmp_path / "run").parent
    done = _poolbench("baseline", "save", run_dir, tmp_path / "quick.txt")
    assert done.returncode == 2
    assert ".json" in done.stderr
    assert not (tmp_path / "quick.txt").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        # 0.1 meant 0.1% here while --p99-margin 0.2 meant 20%: a bare number is refused.
        ("--max-throughput-drop", "0.1", "--max-throughput-drop: write a percentage with its sign"),
        ("--max-p99-rise", "25", "like '25%'"),
        # Named by its flag, not by the field max_throughput_drop_pct.
        ("--max-throughput-drop", "150%", "--max-throughput-drop: must be below 100%"),
    ],
)
def test_percentages_need_their_sign_and_errors_name_the_flag(
    tmp_path: Path, baseline: Path, flag: str, value: str, message: str
) -> None:
    done = _poolbench("gate", _current(tmp_path, BASE), "--baseline", baseline, flag, value)
    assert done.returncode == 2
    assert message in done.stderr
    assert "_pct" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_markdown_to_a_folder_is_refused_before_comparing(tmp_path: Path, baseline: Path) -> None:
    done = _poolbench(
        "gate", _current(tmp_path, BASE), "--baseline", baseline, "--markdown", tmp_path
    )
    assert done.returncode == 2
    assert "--markdown:" in done.stderr and "is a folder" in done.stderr
    assert "gate passed" not in done.stdout


def test_usage_names_the_argument_plainly(tmp_path: Path) -> None:
    done = _poolbench("gate")
    assert done.returncode == 2
    assert "gate [OPTIONS] CURRENT\n" in done.stdout + done.stderr
    assert "{current}" not in done.stdout + done.stderr


def test_junit_has_a_case_per_point_and_check(tmp_path: Path, baseline: Path) -> None:
    junit = tmp_path / "reports" / "gate.xml"
    current = _current(tmp_path, [point(workers=5, throughput=70.0), BASE[1]])
    done = _poolbench("gate", current, "--baseline", baseline, "--junit", junit)
    assert done.returncode == 1, done.stdout + done.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = [(c.get("classname"), c.get("name"), c) for c in suite.iter("testcase")]
    assert len(cases) == 2 * 5  # 2 points x (3 metrics + lost + duplicates)
    failed = [(point, name) for point, name, c in cases if c.find("failure") is not None]
    assert failed == [("consumer.workers=5", "throughput")]
    assert suite.get("failures") == "1"


def _repeats(throughputs: list[float]) -> list[PointResult]:
    return [point(workers=5, repeat=i, throughput=t) for i, t in enumerate(throughputs)]


def test_fail_on_inconclusive(tmp_path: Path) -> None:
    run_dir = save(result_set(_repeats([100, 60, 140, 90])), tmp_path / "base").parent
    current = save(result_set(_repeats([80, 135, 65, 83])), tmp_path / "cur").parent
    lenient = _poolbench("gate", current, "--baseline", run_dir / "results.json")
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "inconclusive" in lenient.stdout
    junit = tmp_path / "gate.xml"
    strict = _poolbench(
        "gate", current, "--baseline", run_dir / "results.json", "--fail-on-inconclusive",
        "--junit", junit,
    )  # fmt: skip
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "1 inconclusive (--fail-on-inconclusive)" in strict.stdout
    (case,) = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "throughput"
    ]
    assert case.find("failure") is not None


def test_min_effect_gates_any_metric_by_its_result_name(tmp_path: Path) -> None:
    base = save(result_set(_repeats([100, 101, 99, 100.5])), tmp_path / "base").parent
    # Same CPU percent at 80% of the rate: CPU per email up by a quarter.
    current = save(result_set(_repeats([80, 81, 79, 80.5])), tmp_path / "cur").parent
    args = ("gate", current, "--baseline", base / "results.json")
    markdown = tmp_path / "gate.md"
    done = _poolbench(
        *args, "--min-effect", "throughput=25%", "--min-effect", "cpu_us_per_email=15%",
        "--markdown", markdown,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    failing = [line for line in markdown.read_text().splitlines() if "| **" in line]
    assert len(failing) == 1 and "| CPU per email |" in failing[0] and "**MORE**" in failing[0]
    assert "throughput=25%" not in markdown.read_text()
    assert "cpu_us_per_email 15%" in markdown.read_text()
    bad = _poolbench(*args, "--min-effect", "cpu=5%")
    assert bad.returncode == 2
    assert (
        len(bad.stderr.splitlines()) == 1 and "--min-effect: expected METRIC=PERCENT" in bad.stderr
    )
