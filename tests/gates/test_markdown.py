from poolbench.gates.compare import compare
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
        "Point", "Repeats", "Metric", "Baseline", "Current", "Change", "Verdict", "Why",
    ]  # fmt: skip
    assert len(rows) == 2 * 5
    assert {row[6] for row in rows} == {"pass"}
    assert rows[0][:6] == [
        "consumer.workers=5", "1 / 1", "throughput", "100.0/s", "100.0/s", "+0.0%",
    ]  # fmt: skip
    assert "- a single repeat" in text


def test_a_regression_is_marked_and_counted() -> None:
    doctored = [point(workers=5, throughput=70.0, lost=1), point(workers=10)]
    text = to_markdown(compare(result_set(BASE), result_set(doctored)))
    assert "FAILED (2 regression(s))" in text
    marked = [row for row in _table_rows(text) if row[6] == "**REGRESSION**"]
    assert [(row[2], row[5]) for row in marked] == [("throughput", "-30.0%"), ("lost emails", "+1")]


def test_unmatched_points_and_pipes_are_escaped() -> None:
    base = [point(params={"sink.latency": "a|b"}), point(workers=3)]
    text = to_markdown(compare(result_set(base), result_set(base[:1])))
    assert "sink.latency=a\\|b" in text
    assert "- not in the current results: consumer.workers=3" in text
