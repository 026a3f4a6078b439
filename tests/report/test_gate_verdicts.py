"""Gate verdicts wherever a run is read: the table's Status, report.md and report.html."""

from __future__ import annotations

import dataclasses

from poolbench.gates.absolute import evaluate_gates, with_verdicts
from poolbench.report.html import render_html
from poolbench.report.summary import GATE_FAILED, OK, gate_rows, summary_table
from poolbench.report.writer import render_markdown
from poolbench.results import ResultSet
from tests import synthetic

GATES = ["p99_ms < 4.5s", "throughput >= 0.9 * ideal"]


def gated() -> ResultSet:
    """The seed table with its gates evaluated, as `poolbench run` stores it."""
    plain = synthetic.seed_table()
    scenario = {**plain.scenario, "gates": GATES}
    points = tuple(dataclasses.replace(p, warnings=()) for p in plain.points)
    report = evaluate_gates(GATES, points)
    return dataclasses.replace(plain, scenario=scenario, points=with_verdicts(points, report))


def test_the_status_column_says_gate_failed_for_a_point_whose_gate_failed() -> None:
    result_set = gated()
    table = summary_table(result_set)
    status = [row[table.headers.index("Status")] for row in table.rows]
    expected = [GATE_FAILED if p.gate_failed else OK for p in result_set.points]
    assert status == expected
    assert GATE_FAILED in status and OK in status  # the fixture has both
    assert all(
        flagged
        for flagged, p in zip(table.flagged, result_set.points, strict=True)
        if p.gate_failed
    )


def test_gate_rows_give_each_point_its_verdict_and_values() -> None:
    result_set = gated()
    rows = gate_rows(result_set)
    assert len(rows) == len(GATES) * len(result_set.points)
    for row in rows:
        point = result_set.points[row.point - 1]
        (stored,) = [g for g in point.gates if g.gate == row.gate]
        assert row.verdict == ("passed" if stored.passed else "FAILED")
        assert row.measured == stored.measured


def test_a_gate_the_point_does_not_carry_reads_not_evaluated_never_passed() -> None:
    plain = synthetic.seed_table()
    result_set = dataclasses.replace(plain, scenario={**plain.scenario, "gates": GATES})
    assert {row.verdict for row in gate_rows(result_set)} == {"not evaluated"}


def test_report_md_and_html_show_pass_or_fail_per_point() -> None:
    result_set = gated()
    failed = [r for r in gate_rows(result_set) if r.verdict == "FAILED"]
    passed = [r for r in gate_rows(result_set) if r.verdict == "passed"]
    assert failed and passed
    text = render_markdown(result_set)
    section = text.split("## Gates", 1)[1].split("\n## ", 1)[0]
    assert "| Point | Gate | Verdict | Measured |" in section
    for row in failed:
        assert (
            f"| {row.point} ({row.params}) | `{row.gate}` | **FAILED** | {row.measured} |"
            in section
        )
    for row in passed:
        assert f"| {row.point} ({row.params}) | `{row.gate}` | passed | {row.measured} |" in section
    page = render_html(result_set, ())
    gates_html = page.split('<table id="gates">', 1)[1].split("</table>", 1)[0]
    assert gates_html.count('data-verdict="FAILED"') == len(failed)
    assert gates_html.count('data-verdict="passed"') == len(passed)
