"""compare.md, compare.json and the charts from a synthetic outcome."""

from __future__ import annotations

import json
from pathlib import Path

from poolbench.compare.order import run_order
from poolbench.compare.verdict import Outcome, judge_point
from poolbench.report.compare_report import SideInfo, write_compare_report
from tests.compare.test_verdict import _point


def test_report_files(tmp_path: Path) -> None:
    a = [_point(i, 400 + i) for i in range(5)]
    b = [_point(i, 0.8 * (400 + i), lost=2 if i == 4 else 0) for i in range(5)]
    point = judge_point("consumer.workers=10", a, b, alpha=0.05, min_effect=0.1)
    outcome = Outcome(
        points=(point,), alpha=0.05, min_effect=0.1, fail_on=("throughput",), warnings=("w",)
    )
    sides = [
        SideInfo(name="A", label="HEAD~1 (abc)", commit="abc", env={}, machine_cpu_percent=120),
        SideInfo(
            name="B",
            label=".",
            commit=None,
            env={"POOLBENCH_DEBUG_DELAY": "2ms"},
            machine_cpu_percent=None,
        ),
    ]
    files = write_compare_report(
        outcome, sides, tmp_path, scenario="compare", repeats=5, order=run_order(1, 5, 0)
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
    assert doc["points"][0]["metrics"]["throughput"]["verdict"] == "worse"
    assert len(doc["order"]) == 10
    assert {p.name for p in files.charts} >= {"compare-throughput.png", "compare-memory.png"}
    assert not outcome.passed
    assert [m.metric.name for _, m in outcome.regressions] == ["throughput"]
