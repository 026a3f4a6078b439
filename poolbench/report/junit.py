"""Verdicts as JUnit XML (`--junit FILE` of `gate` and `compare`), for CI systems that
read test reports rather than GitHub's step summary. Pure: builds a string.

One test case per point and metric (and per point for the counts or problems): a
failing verdict is a <failure>; an inconclusive one is a <failure> with
`--fail-on-inconclusive` and a <skipped> without (it neither passed nor failed); every
case carries its verdict's detail.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from poolbench.compare.verdict import Outcome
from poolbench.gates.compare import Comparison
from poolbench.gates.verdict import MetricVerdict, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    classname: str  # the point
    name: str  # the metric or check
    outcome: str  # "passed", "failed" or "skipped"
    message: str


def _metric_case(label: str, m: MetricVerdict, *, fails: bool, fail_on_inconclusive: bool) -> Case:
    change = "n/a" if m.change is None else f"{100 * m.change:+.1f}%"
    message = f"{m.word}: {change}; {m.detail}"
    if fails:
        outcome = "failed"
    elif m.verdict is Verdict.INCONCLUSIVE and not fail_on_inconclusive:
        outcome = "skipped"
    else:
        outcome = "passed"
    return Case(classname=label, name=m.metric.name, outcome=outcome, message=message)


def gate_cases(comparison: Comparison) -> list[Case]:
    cases: list[Case] = []
    for point in comparison.points:
        for m in point.metrics:
            cases.append(
                _metric_case(
                    point.label,
                    m,
                    fails=comparison.fails(m.verdict),
                    fail_on_inconclusive=comparison.limits.fail_on_inconclusive,
                )
            )
        for c in point.counts:
            cases.append(
                Case(
                    classname=point.label,
                    name=c.name,
                    outcome="failed" if c.verdict is Verdict.WORSE else "passed",
                    message=f"baseline {c.baseline}, current {c.current}: {c.detail}",
                )
            )
    return cases


def compare_cases(outcome: Outcome, *, error: str | None = None) -> list[Case]:
    cases: list[Case] = []
    for point in outcome.points:
        for m in point.metrics:
            # A metric outside --fail-on is reported but never fails, whatever its verdict.
            tracked = m.metric.name in outcome.fail_on
            cases.append(
                _metric_case(
                    point.label,
                    m,
                    fails=outcome.fails(m),
                    fail_on_inconclusive=outcome.fail_on_inconclusive or not tracked,
                )
            )
        cases.append(
            Case(
                classname=point.label,
                name="loss, duplicates and failed runs",
                outcome="failed" if point.problems else "passed",
                message="; ".join(point.problems) or "none on either side",
            )
        )
    if error is not None:
        cases.append(Case(classname="compare", name="finished", outcome="failed", message=error))
    return cases


def render(suite: str, cases: Sequence[Case]) -> str:
    """A <testsuites> document with one <testsuite> named `suite`."""
    failures = sum(c.outcome == "failed" for c in cases)
    skipped = sum(c.outcome == "skipped" for c in cases)
    root = ET.Element(
        "testsuites", tests=str(len(cases)), failures=str(failures), skipped=str(skipped)
    )
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        skipped=str(skipped),
        errors="0",
    )
    for case in cases:
        element = ET.SubElement(node, "testcase", classname=case.classname, name=case.name)
        if case.outcome == "failed":
            ET.SubElement(element, "failure", message=case.message).text = case.message
        elif case.outcome == "skipped":
            ET.SubElement(element, "skipped", message=case.message)
        ET.SubElement(element, "system-out").text = case.message
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
