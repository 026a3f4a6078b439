"""report.html: one self-contained file, checked in a real headless Chromium.

The browser test needs Debian's chromium and chromium-driver (installed by .ci/run) and
selenium (the [test] extras). Without them it skips locally and fails under CI=true, so a
missing browser shows instead of passing silently.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolbench.report.writer import write_report
from poolbench.results import ResultSet
from tests import synthetic
from tests.report.fixtures import faults


def _run_folder(tmp_path: Path, result_set: ResultSet) -> Path:
    """A run's folder as `poolbench run` leaves it: per-point consumer logs beside."""
    run = tmp_path / "run"
    for number in range(1, len(result_set.points) + 1):
        folder = run / "points" / f"point-{number}"
        folder.mkdir(parents=True)
        (folder / "consumer-0.log").write_text(f"consumer ready\npoint {number}\n")
    write_report(result_set, run)
    return run


def test_the_html_report_is_one_self_contained_file(tmp_path: Path) -> None:
    run = _run_folder(tmp_path, faults(failed=True))
    text = (run / "report.html").read_text()
    # Every chart is inside the file; nothing is fetched from anywhere.
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(images) == len([p for p in run.glob("*.png")]) >= 5
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<script src" not in text
    # The consumer logs kept in the run's folder are linked, and the links resolve.
    links = re.findall(r'<a href="([^"]+)">consumer-0.log</a>', text)
    assert links == ["points/point-1/consumer-0.log", "points/point-2/consumer-0.log"]
    assert all((run / link).is_file() for link in links)
    # A failed point is marked, its figures read n/a, and the gap is explained.
    assert 'data-status="FAILED"' in text
    assert '<td class="FAILED">FAILED</td>' in text
    assert "n/a" in text
    assert "not the outage, set the gap&#x27;s length" in text
    markdown = (run / "report.md").read_text()
    assert "[consumer-0.log](points/point-2/consumer-0.log)" in markdown


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [
        what
        for what, ok in (
            ("chromium", chromium),
            ("chromedriver (chromium-driver)", driver),
            ("selenium", selenium_ok),
        )
        if not ok
    ]
    if missing:
        what = ", ".join(missing) + " missing"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {what}: the report.html browser test cannot run")
        pytest.skip(f"{what} (apt-get install chromium chromium-driver; pip install selenium)")
    assert chromium is not None and driver is not None
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["faults", "grid"])
def test_the_report_opens_in_chromium_without_errors_and_every_chart_decodes(
    tmp_path: Path, browser: Any, which: str
) -> None:
    result_set = faults(failed=True, partial=True) if which == "faults" else synthetic.grid()
    run = _run_folder(tmp_path, result_set)
    browser.get((run / "report.html").as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    assert len(images) == len(list(run.glob("*.png")))
    undecoded = [alt for alt, complete, width in images if not complete or width <= 0]
    assert undecoded == []


@pytest.mark.slow
def test_the_table_sorts_by_a_clicked_column_with_n_a_last(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base = synthetic.seed_table()
    # Throughput 9, 46, 97, 184 in row order; the third point measured nothing.
    points = list(base.points)
    points[2] = type(points[2])(
        **{
            **{f: getattr(points[2], f) for f in points[2].__slots__},
            "throughput_per_s": None,
            "latency_ms": None,
            "error": "nothing measured",
        }
    )
    result_set = type(base)(
        scenario_name=base.scenario_name,
        scenario=base.scenario,
        scenario_hash=base.scenario_hash,
        environment=base.environment,
        points=tuple(points),
    )
    run = _run_folder(tmp_path, result_set)
    browser.get((run / "report.html").as_uri())
    table = browser.find_element(By.ID, "results")
    headers = [th.text.strip(" ↕↑↓") for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    column = headers.index("Throughput")

    def throughputs() -> list[str]:
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        return [row.find_elements(By.TAG_NAME, "td")[column].text for row in rows]

    header = table.find_elements(By.CSS_SELECTOR, "thead th")[column]
    header.click()
    ascending = throughputs()
    header.click()
    descending = throughputs()
    numbers = [float(t.split()[0]) for t in ascending[:3]]
    assert numbers == sorted(numbers)
    assert ascending[-1] == "n/a" and descending[-1] == "n/a"
    assert [float(t.split()[0]) for t in descending[:3]] == sorted(numbers, reverse=True)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
