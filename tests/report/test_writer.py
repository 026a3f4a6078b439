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
    assert (
        "| Workers | Buffer | Throughput | Latency avg (end to end) | p99 (end to end) | Memory |"
        in text
    )
    for chart in files.charts:
        assert f"]({chart.name})" in text
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
    assert second[headers.index("Lost / Dup / DLQ / Retried")] == f"{point.lost} / 0 / 0 / 0"
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
