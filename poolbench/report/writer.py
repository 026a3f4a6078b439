"""`write_report`: results.csv, report.md and the PNG charts, next to results.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from poolbench.report.charts import write_charts
from poolbench.report.summary import with_unit
from poolbench.report.tables import markdown_table, write_csv
from poolbench.results import ResultSet

CSV_FILE: Final = "results.csv"
REPORT_FILE: Final = "report.md"

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
    charts: tuple[Path, ...]


def write_report(result_set: ResultSet, directory: Path | str) -> ReportFiles:
    """Write the CSV, the charts and report.md (which links them) into `directory`."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    csv = write_csv(result_set, target / CSV_FILE)
    charts = tuple(write_charts(result_set, target))
    markdown = target / REPORT_FILE
    markdown.write_text(render_markdown(result_set, charts))
    return ReportFiles(csv=csv, markdown=markdown, charts=charts)


def render_markdown(result_set: ResultSet, charts: tuple[Path, ...] = ()) -> str:
    scenario = result_set.scenario
    env = result_set.environment
    lines = [f"# poolbench: {result_set.scenario_name}", ""]
    if result_set.partial:
        lines += [
            f"**Partial run**: {result_set.stop_reason or 'not every point was measured'}.",
            "",
        ]
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
            "memory (the kernel's high-water mark). n/a: not measured.",
            "",
        ]
    else:
        lines += ["No point was measured.", ""]
    lines += _priorities(result_set)
    lines += _problems(result_set)
    gates = scenario.get("gates") or []
    if gates:
        lines += ["## Gates", ""]
        lines += [f"- `{gate}`" for gate in gates]
        lines.append("")
    if charts:
        lines += ["## Charts", ""]
        for chart in charts:
            title = _CHART_TITLES.get(chart.name)
            if title is None and chart.stem.startswith("priority-"):
                title = "p99 by priority, point " + chart.stem.removeprefix("priority-")
            if title is None:
                title = "Timeline of point " + chart.stem.removeprefix("timeline-")
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
        f"| git commit | {env.git_commit or 'unknown'} |",
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
