import csv
from pathlib import Path

from poolbench.report.summary import EXTRA_COLUMNS, SEED_COLUMNS, summary_table
from poolbench.report.tables import markdown_table, to_frame
from poolbench.report.writer import render_markdown, write_report
from poolbench.results import ResultSet
from tests import synthetic

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5_000


def test_report_files_for_a_zip_sweep(tmp_path: Path) -> None:
    result_set = synthetic.seed_table()
    files = write_report(result_set, tmp_path)
    names = {p.name for p in files.charts}
    assert {"throughput.png", "latency.png", "memory.png"} <= names
    assert "heatmap.png" not in names  # zip, not grid
    assert {f"timeline-{n}.png" for n in range(1, 5)} <= names
    assert all(_is_png(p) for p in files.charts)
    with files.csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result_set.points) == 4
    assert [r["consumer.workers"] for r in rows] == ["1", "5", "10", "20"]
    assert float(rows[2]["throughput_per_s"]) == result_set.points[2].throughput_per_s
    text = files.markdown.read_text()
    assert text.startswith("# poolbench: seed-table\n")
    # Every point saturates, but these carry no service time: end to end stays the
    # headline rather than an n/a.
    assert (
        "| Workers | Buffer | Throughput | Latency avg (end to end) | p99 (end to end) | Memory |"
        in text
    )
    for chart in files.charts:
        assert f"]({chart.name})" in text
    assert files.html.name == "report.html" and files.html.is_file()
    assert "test-host" in text and "`lost == 0`" in text


def test_grid_gets_a_heatmap(tmp_path: Path) -> None:
    files = write_report(synthetic.grid(), tmp_path)
    assert _is_png(tmp_path / "heatmap.png")
    assert tmp_path / "heatmap.png" in files.charts
    assert not any(p.name.startswith("timeline") for p in files.charts)  # no timelines given


def test_markdown_table_shape_and_losses() -> None:
    result_set = synthetic.seed_table(lost_at=1)
    lines = markdown_table(result_set).splitlines()
    assert lines[0] == "| " + " | ".join((*SEED_COLUMNS, *EXTRA_COLUMNS)) + " |"
    assert len(lines) == 2 + 4
    second = [c.strip() for c in lines[3].strip("|").split("|")]
    point = result_set.points[1]
    assert second[:2] == ["5", "50"]
    assert second[2].endswith(" /s")
    headers = (*SEED_COLUMNS, *EXTRA_COLUMNS)
    lost, dup, dlq, retried = (headers.index(h) for h in ("Lost", "Dup", "DLQ", "Retried"))
    assert [second[i] for i in (lost, dup, dlq, retried)] == [str(point.lost), "0", "0", "0"]
    assert second[headers.index("Status")] == "LOST"
    assert second[headers.index("Offered")] == "saturating"
    assert second[headers.index("Kept up")] == "n/a"
    assert point.lost == 3
    assert summary_table(result_set).flagged == (False, True, False, False)


def test_report_spells_out_losses_and_warnings() -> None:
    text = render_markdown(synthetic.seed_table(lost_at=2))
    assert "LOST 3 of" in text
    assert "consumer.workers=10" in text.split("### Losses and warnings")[1]


def test_repeats_add_a_column_and_rows() -> None:
    result_set = synthetic.seed_table(repeats=3)
    table = summary_table(result_set)
    assert "Repeat" in table.headers
    assert len(table.rows) == 12
    assert len(to_frame(result_set)) == 12


def test_unswept_workers_come_from_the_scenario() -> None:
    base = synthetic.seed_table()
    only_retries = ResultSet(
        scenario_name="faults",
        scenario=base.scenario,
        scenario_hash=base.scenario_hash,
        environment=base.environment,
        points=tuple(
            type(p)(
                **{**{f: getattr(p, f) for f in p.__slots__}, "params": {"consumer.retries": i}}
            )
            for i, p in enumerate(base.points[:2])
        ),
    )
    frame = to_frame(only_retries)
    assert list(frame["consumer.workers"]) == [10, 10]
    assert list(frame["consumer.retries"]) == [0, 1]
    table = summary_table(only_retries)
    assert table.headers[0] == "retries"


def test_empty_result_set_still_reports(tmp_path: Path) -> None:
    base = synthetic.seed_table()
    empty = ResultSet(
        scenario_name="x",
        scenario=base.scenario,
        scenario_hash=base.scenario_hash,
        environment=base.environment,
    )
    files = write_report(empty, tmp_path)
    assert files.charts == ()
    assert "No point was measured." in files.markdown.read_text()


def test_a_point_that_measured_nothing_reads_n_a_everywhere(tmp_path: Path) -> None:
    """Not `0/s 0ms 0ms`: the terminal/markdown table, the CSV and the report all say the
    point failed and show no figure for it."""
    from poolbench.report.summary import NA
    from tests.report.fixtures import faults

    result_set = faults(failed=True)
    table = summary_table(result_set)
    row = dict(zip(table.headers, table.rows[1], strict=True))
    latency = [h for h in table.headers if h.startswith(("Latency avg", "p99 ("))]
    assert len(latency) == 2, table.headers
    for header in ("Throughput", *latency, "Share of ideal"):
        assert row[header] == NA, header
    assert row["Status"] == "FAILED"
    files = write_report(result_set, tmp_path)
    with files.csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["throughput_per_s"] == "" and rows[1]["latency_p99_ms"] == ""
    assert rows[1]["error"] == "only 0 emails were received"
    text = files.markdown.read_text()
    assert "**FAILED run: 1 of 2 point(s) measured nothing usable" in text
    assert "| n/a |" in text


def test_partial_runs_are_marked_at_the_top_of_the_report() -> None:
    from tests.report.fixtures import faults

    text = render_markdown(faults(partial=True))
    assert text.splitlines()[2] == "**PARTIAL run: interrupted after 2 of 3 points**."


def test_the_table_shows_retried_and_the_rate_the_share_is_of() -> None:
    from tests.report.fixtures import faults

    table = summary_table(faults())
    row = dict(zip(table.headers, table.rows[0], strict=True))
    assert row["Retried"] == "40"
    assert row["DLQ"] == "5"
    assert row["Share of ideal"] == "96% of 50.0/s"
    assert row["Offered"] == "50.0 /s"


def test_the_report_says_the_breaker_set_the_gap() -> None:
    from tests.report.fixtures import faults

    text = render_markdown(faults())
    section = text.split("### Gaps in deliveries")[1]
    assert (
        "point 2 (consumer.retries=3): the 2 s outage at 8 s made 5 s with no delivery "
        "(8-13 s): the consumer's circuit breaker cooldown (5 s), not the outage, set the "
        "gap's length"
    ) in section


def test_a_saturated_run_headlines_the_service_time_and_an_open_one_end_to_end(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from poolbench.report.summary import headline_words, headlines_service, with_unit
    from poolbench.results import LATENCY_KEYS

    table_only = synthetic.seed_table()
    assert not headlines_service(table_only)  # no service time: no n/a headline
    saturated = replace(
        table_only,
        points=tuple(
            replace(
                p,
                service_ms=replace(
                    p.latency_ms, **{k: getattr(p.latency_ms, k) / 10 for k in LATENCY_KEYS}
                ),
            )
            for p in table_only.points
            if p.latency_ms is not None
        ),
    )
    assert all(p.load_mode == "saturate" for p in saturated.points)
    assert headlines_service(saturated)
    table = summary_table(saturated)
    for point, cells in zip(saturated.points, table.rows, strict=True):
        row = dict(zip(table.headers, cells, strict=True))
        assert point.service_ms is not None and point.latency_ms is not None
        assert row["p99 (service)"] == with_unit(point.service_ms.p99, "ms")
        assert row["End-to-end p99"] == with_unit(point.latency_ms.p99, "ms")
        assert "p99 (end to end)" not in row
    opened = replace(
        saturated, points=tuple(replace(p, load_mode="open") for p in saturated.points)
    )
    assert not headlines_service(opened)
    table = summary_table(opened)
    row = dict(zip(table.headers, table.rows[0], strict=True))
    first = opened.points[0]
    assert first.latency_ms is not None and first.service_ms is not None
    assert row["p99 (end to end)"] == with_unit(first.latency_ms.p99, "ms")
    assert row["Service p99"] == with_unit(first.service_ms.p99, "ms")
    # The reports say which latency they headline, and why.
    files = write_report(saturated, tmp_path)
    assert headline_words(saturated) in files.markdown.read_text()
    assert "its service time" in headline_words(saturated)
    assert "headlined is end to end" in headline_words(opened)
