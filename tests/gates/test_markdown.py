from poolbench.gates.compare import Limits, compare
from poolbench.gates.markdown import to_markdown
from tests.gates.factories import point, result_set

BASE = [point(workers=5), point(workers=10)]


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_a_passing_gate_has_one_row_per_point_and_metric() -> None:
    text = to_markdown(compare(result_set(BASE), result_set(BASE)))
    assert text.startswith("## poolbench gate: quick PASSED\n")
    header, _rule, *rows = _table_rows(text)
    assert header == [
        "Point", "Repeats", "Metric", "Baseline", "Current", "Change", "Sees", "Verdict", "Why",
    ]  # fmt: skip
    assert len(rows) == 2 * 5
    assert rows[0][:8] == [
        "consumer.workers=5", "1 / 1", "throughput", "100.0/s", "100.0/s", "+0.0%", "no test",
        "no change beyond +-10%",
    ]  # fmt: skip
    assert "thresholds alone" in rows[0][8]
    assert "- no significance was possible at 2 point(s)" in text
    assert "--max-throughput-drop 10%, --max-p99-rise 25%, --max-memory-rise 20%" in text


def test_a_regression_is_marked_and_counted() -> None:
    doctored = [point(workers=5, throughput=70.0, lost=1), point(workers=10)]
    text = to_markdown(compare(result_set(BASE), result_set(doctored)))
    assert "FAILED (2 regression(s))" in text
    marked = [row for row in _table_rows(text) if row[7].startswith("**")]
    assert [(row[2], row[5], row[7]) for row in marked] == [
        ("throughput", "-30.0%", "**SLOWER**"),
        ("lost emails", "+1", "**WORSE**"),
    ]


def test_inconclusive_fails_the_headline_only_when_asked() -> None:
    base = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([100, 60, 140, 90])]
    cur = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([80, 135, 65, 83])]
    lenient = to_markdown(compare(result_set(base), result_set(cur)))
    assert "PASSED" in lenient.splitlines()[0]
    strict = compare(result_set(base), result_set(cur), limits=Limits(fail_on_inconclusive=True))
    text = to_markdown(strict)
    assert "FAILED (1 inconclusive, --fail-on-inconclusive)" in text
    assert any(row[7] == "**INCONCLUSIVE**" for row in _table_rows(text))


def test_unmatched_points_and_pipes_are_escaped() -> None:
    base = [point(params={"sink.latency": "a|b"}), point(workers=3)]
    text = to_markdown(compare(result_set(base), result_set(base[:1])))
    assert "sink.latency=a\\|b" in text
    assert "- not in the current results: consumer.workers=3" in text


def test_a_run_outside_a_checkout_reads_commit_none_not_unknown() -> None:
    import dataclasses

    base = result_set(BASE)
    pipx = dataclasses.replace(
        base, environment=dataclasses.replace(base.environment, git_commit=None)
    )
    text = to_markdown(compare(base, pipx))
    assert "current commit none" in text and "unknown" not in text
