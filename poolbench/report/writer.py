"""`write_report`: results.csv, report.md, report.html and the PNG charts, next to
results.json."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from poolbench.report.charts import chart_figures
from poolbench.report.faults import point_gaps
from poolbench.report.html import render_html
from poolbench.report.summary import gate_rows, headline_words, run_status_line, with_unit
from poolbench.report.tables import markdown_table, write_csv
from poolbench.results import ResultSet

CSV_FILE: Final = "results.csv"
REPORT_FILE: Final = "report.md"
HTML_FILE: Final = "report.html"
POINTS_DIR: Final = "points"  # the run's per-point folders: consumer logs, settings, load

_CHART_TITLES: Final = {
    "throughput.png": "Throughput against the ideal",
    "latency.png": "Latency percentiles",
    "memory.png": "Consumer memory",
    "budget.png": "Where each email's time goes",
    "heatmap.png": "Workers x buffer",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFiles:
    csv: Path
    markdown: Path
    html: Path
    charts: tuple[Path, ...]


def consumer_logs(
    result_set: ResultSet, run_dir: Path, target: Path
) -> dict[int, list[tuple[str, str]]]:
    """Per point number: (file name, link relative to `target`) of each consumer log kept
    in the run's folder (`points/point-N/consumer-I.log`)."""
    out: dict[int, list[tuple[str, str]]] = {}
    for number in range(1, len(result_set.points) + 1):
        folder = run_dir / POINTS_DIR / f"point-{number}"
        logs = sorted(folder.glob("consumer-*.log")) if folder.is_dir() else []
        if logs:
            out[number] = [
                (log.name, Path(os.path.relpath(log, target)).as_posix()) for log in logs
            ]
    return out


def write_report(
    result_set: ResultSet, directory: Path | str, *, run_dir: Path | str | None = None
) -> ReportFiles:
    """Write the CSV, the charts, report.md (which links them) and report.html (which holds
    them) into `directory`; `run_dir`: the run's folder, whose consumer logs the reports
    link (default: `directory`)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    csv = write_csv(result_set, target / CSV_FILE)
    images: list[tuple[str, bytes]] = []
    charts: list[Path] = []
    for name, figure in chart_figures(result_set):
        path = target / name
        figure.savefig(path, format="png")
        charts.append(path)
        images.append((name, path.read_bytes()))
    logs = consumer_logs(result_set, Path(run_dir) if run_dir is not None else target, target)
    markdown = target / REPORT_FILE
    markdown.write_text(render_markdown(result_set, tuple(charts), logs=logs))
    html = target / HTML_FILE
    html.write_text(render_html(result_set, images, logs=logs, title=_chart_title))
    return ReportFiles(csv=csv, markdown=markdown, html=html, charts=tuple(charts))


def _chart_title(name: str) -> str:
    title = _CHART_TITLES.get(name)
    if title is not None:
        return title
    stem = name.removesuffix(".png")
    if stem.startswith("priority-"):
        return "p99 by priority, point " + stem.removeprefix("priority-")
    return "Timeline of point " + stem.removeprefix("timeline-")


def faults_lines(result_set: ResultSet) -> list[str]:
    """Per point, what each gap in deliveries came from (outage or breaker)."""
    lines: list[str] = []
    for number, point in enumerate(result_set.points, start=1):
        params = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "the only point"
        lines.extend(
            f"point {number} ({params}): {cause.describe()}"
            for cause in point_gaps(result_set, point)
        )
    return lines


def render_markdown(
    result_set: ResultSet,
    charts: tuple[Path, ...] = (),
    *,
    logs: dict[int, list[tuple[str, str]]] | None = None,
) -> str:
    scenario = result_set.scenario
    env = result_set.environment
    lines = [f"# poolbench: {result_set.scenario_name}", ""]
    status = run_status_line(result_set)
    if status is not None:
        lines += [f"**{status}**.", ""]
    description = str(scenario.get("description") or "").strip()
    if description:
        lines += [description, ""]
    lines += ["## Results", ""]
    if result_set.points:
        lines.append(markdown_table(result_set))
        lines += [
            "Throughput: distinct emails received at the SMTP sink in the steady-state "
            "window, divided by its length (under every load). *Latency* is end to end: from "
            "the intended send time (under a saturating load, the time the email was "
            "produced) to receipt, including the wait in Kafka and the pool's queue; "
            "*Service* runs from the worker's start to receipt. *Ideal* is min(workers / "
            "mean sink latency, offered rate); *Kept up*: at least 98% of the offered rate "
            "delivered and no growing backlog. *Send time* is where the mean service time "
            "went, from the sink's per-step stamps. *Memory* is the consumer's peak resident "
            "memory (the kernel's high-water mark). *CPU µs per email* (consumer / sink / "
            "load generator) is exact: the kernel's CPU counters of each part's processes "
            "and threads over an interval of the window, divided by the emails received in "
            "that interval. n/a: not measured. " + headline_words(result_set),
            "",
        ]
    else:
        lines += ["No point was measured.", ""]
    lines += _priorities(result_set)
    lines += _problems(result_set)
    gaps = faults_lines(result_set)
    if gaps:
        lines += ["### Gaps in deliveries", "", *(f"- {line}" for line in gaps), ""]
    if logs:
        lines += ["### Consumer logs", ""]
        for number, files in sorted(logs.items()):
            links = ", ".join(f"[{name}]({link})" for name, link in files)
            lines.append(f"- point {number}: {links}")
        lines.append("")
    gates = gate_rows(result_set)
    if gates:
        lines += [
            "## Gates",
            "",
            "| Point | Gate | Verdict | Measured |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {g.point} ({g.params}) | `{g.gate}` | "
            + (f"**{g.verdict}**" if g.verdict != "passed" else g.verdict)
            + f" | {g.measured.replace('|', '/')} |"
            for g in gates
        ]
        lines.append("")
    if charts:
        lines += ["## Charts", ""]
        for chart in charts:
            title = _chart_title(chart.name)
            lines += [f"### {title}", "", f"![{title}]({chart.name})", ""]
    lines += [
        "## Environment",
        "",
        "| | |",
        "| --- | --- |",
        f"| host | {env.host} |",
        f"| platform | {env.platform} |",
        f"| machine | {env.machine} |",
        f"| CPU | {env.cpu_count} x {env.cpu_model} |",
        f"| Python | {env.python} |",
        *(f"| {name} | {version or 'not installed'} |" for name, version in env.versions.items()),
        f"| git commit | {env.commit_label} |",
        f"| measured (UTC) | {env.created_utc} |",
        f"| scenario hash | `{result_set.scenario_hash}` |",
        f"| schema version | {result_set.schema_version} |",
        "",
    ]
    return "\n".join(lines)


def _priorities(result_set: ResultSet) -> list[str]:
    """Each point of a mixed-priority load, split by priority."""
    rows = []
    for number, point in enumerate(result_set.points, start=1):
        params = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "the only point"
        for name, share in point.by_priority.items():
            e2e, service = share.latency_ms, share.service_ms
            rows.append(
                f"| {number} ({params}) | {name} | {with_unit(share.throughput_per_s, '/s')} | "
                f"{with_unit(None if e2e is None else e2e.p50, 'ms')} | "
                f"{with_unit(None if e2e is None else e2e.p99, 'ms')} | "
                f"{with_unit(None if service is None else service.p99, 'ms')} |"
            )
    if not rows:
        return []
    return [
        "### By priority",
        "",
        "| point | priority | throughput | p50 (end to end) | p99 (end to end) | service p99 |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]


def _problems(result_set: ResultSet) -> list[str]:
    """Points with losses or warnings, spelled out under the table."""
    lines: list[str] = []
    for number, point in enumerate(result_set.points, start=1):
        notes = list(point.warnings)
        if point.error is not None and not any(n.startswith("error:") for n in notes):
            notes.insert(0, f"error: {point.error}")
        if point.has_losses:
            notes.insert(0, f"LOST {point.lost} of {point.produced} emails")
        if notes:
            params = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "the only point"
            lines.append(f"- point {number} ({params}): " + "; ".join(notes))
    if not lines:
        return []
    return ["### Losses and warnings", "", *lines, ""]
