"""compare.md, compare.json, JUnit XML and the charts from a synthetic outcome."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from poolbench.compare.order import run_order
from poolbench.compare.verdict import Outcome, judge_point
from poolbench.report.compare_report import SideInfo, render_markdown, write_compare_report
from poolbench.report.junit import compare_cases, render
from tests.compare.test_verdict import _point

SIDES = [
    SideInfo(name="A", label="HEAD~1 (abc)", commit="abc", env={}, machine_cpu_percent=120),
    SideInfo(
        name="B",
        label=".",
        commit=None,
        env={"POOLBENCH_DEBUG_DELAY": "2ms"},
        machine_cpu_percent=None,
    ),
]


def _slower_and_lossy() -> Outcome:
    a = [_point(i, 400 + i) for i in range(5)]
    b = [_point(i, 0.8 * (400 + i), lost=2 if i == 4 else 0) for i in range(5)]
    point = judge_point("consumer.workers=10", a, b, alpha=0.05, min_effect=0.1)
    return Outcome(
        points=(point,), alpha=0.05, min_effect=0.1, fail_on=("throughput",), warnings=("w",)
    )


def test_report_files(tmp_path: Path) -> None:
    outcome = _slower_and_lossy()
    files = write_compare_report(
        outcome, SIDES, tmp_path, scenario="compare", repeats=5, order=run_order(1, 5, 0)
    )
    text = files.markdown.read_text()
    assert "**FAILED**" in text
    assert "**slower** (fails)" in text
    assert "B repeat 5 lost 2 emails" in text
    assert "`POOLBENCH_DEBUG_DELAY=2ms`" in text
    assert "machine CPU 120%" in text
    assert "![compare-throughput](compare-throughput.png)" in text
    doc = json.loads(files.json.read_text())
    assert doc["passed"] is False
    throughput = doc["points"][0]["metrics"]["throughput"]
    assert throughput["verdict"] == "worse" and throughput["fails"] is True
    assert 0 < throughput["resolution"] < 0.05
    assert len(doc["order"]) == 10
    assert {p.name for p in files.charts} >= {
        "compare-throughput.png",
        "compare-memory_peak_mb.png",
    }
    assert [m.metric.name for _, m in outcome.regressions] == ["throughput"]


def test_too_few_repeats_never_read_as_a_plain_pass() -> None:
    # B's memory higher in all three pairs, 3 against 3 at alpha 0.05 (a stopped compare):
    # no interval exists, and both the verdict and the headline say so.
    a = [_point(i, 400 + i, memory=50 + i) for i in range(3)]
    b = [_point(i, 400 + i, memory=60 + i) for i in range(3)]
    point = judge_point("consumer.workers=10", a, b, alpha=0.05, min_effect=0.1)
    outcome = Outcome(points=(point,), alpha=0.05, min_effect=0.1, fail_on=("throughput",))
    text = render_markdown(outcome, SIDES, scenario="compare", repeats=3)
    headline = next(line for line in text.splitlines() if line.startswith("**"))
    assert headline.startswith("**passed, with 5 verdict(s) that are not a pass**")
    assert "- consumer.workers=10: peak memory inconclusive" in text
    memory_row = next(line for line in text.splitlines() if line.startswith("| peak memory"))
    assert "3 against 3 repeats can never reach alpha 0.05" in memory_row
    assert "**inconclusive**" in memory_row


def test_junit_has_one_case_per_point_and_metric() -> None:
    outcome = _slower_and_lossy()
    root = ET.fromstring(render("poolbench compare compare", compare_cases(outcome)))
    (suite,) = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {
        "throughput",
        "p99_ms",
        "service_p99_ms",
        "memory_peak_mb",
        "cpu_us_per_email",
        "loss, duplicates and failed runs",
    }
    assert all(c.get("classname") == "consumer.workers=10" for c in cases.values())
    failure = cases["throughput"].find("failure")
    assert failure is not None and "slower" in (failure.get("message") or "")
    assert cases["loss, duplicates and failed runs"].find("failure") is not None
    # CPU per email rose by 25% (same CPU, 80% of the rate) but is not in --fail-on.
    assert cases["cpu_us_per_email"].find("failure") is None
    assert suite.get("failures") == "2" and suite.get("tests") == "6"


def test_junit_inconclusive_is_skipped_or_failed_by_the_flag() -> None:
    a = [_point(i, r) for i, r in enumerate([300.0, 420.0, 380.0, 500.0])]
    b = [_point(i, r) for i, r in enumerate([350.0, 400.0, 390.0, 470.0])]
    point = judge_point("p", a, b, alpha=0.05, min_effect=0.05)
    for flag, tag in ((False, "skipped"), (True, "failure")):
        outcome = Outcome(
            points=(point,),
            alpha=0.05,
            min_effect=0.05,
            fail_on=("throughput",),
            fail_on_inconclusive=flag,
        )
        root = ET.fromstring(render("s", compare_cases(outcome)))
        (case,) = [c for c in root.iter("testcase") if c.get("name") == "throughput"]
        assert case.find(tag) is not None, tag
