"""`poolbench show DIR`: the results table in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def show(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A run's folder (results/<scenario>/<timestamp>/), its results.json, or a "
            "scenario's folder (results/<scenario>/: its newest run)."
        ),
    ],
) -> None:
    """Print a run's results as a table: the seed's columns (latency end to end), the service
    p99, the offered rate, the share of the ideal, losses; then per point where the send time
    went, who was busy, and the warnings."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from poolbench.gates.baseline import resolve_results
    from poolbench.report.summary import (
        BESIDE_E2E_AVG,
        BESIDE_E2E_P99,
        BUDGET_HEADER,
        CPU_COST_HEADER,
        CPU_HEADER,
        NA,
        SERVICE_AVG,
        SERVICE_P99,
        STARTUP_HEADER,
        busiest_threads,
        run_status,
        run_status_line,
        summary_table,
        thread_split,
    )
    from poolbench.results import load

    result_set = load(resolve_results(directory))
    env = result_set.environment
    summary = summary_table(result_set)
    marker = run_status(result_set)
    # Long cells (warnings, the time budget, CPU by part) go under the table.
    below = {
        "Warnings",
        BUDGET_HEADER,
        CPU_HEADER,
        CPU_COST_HEADER,
        STARTUP_HEADER,
        "Ideal",
        SERVICE_AVG,
        SERVICE_P99,
        BESIDE_E2E_AVG,
        BESIDE_E2E_P99,
        "Dup",
        "Lost",  # the Status says LOST, the count is under the table
    }
    keep = [i for i, h in enumerate(summary.headers) if h not in below]
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
        title=f"{result_set.scenario_name} ({len(result_set.points)} point(s))"
        + (f" [bold red]{marker}[/bold red]" if marker else ""),
        caption=(
            f"{env.host}, {env.cpu_count} x {env.cpu_model}, Python {env.python}, "
            f"poolbench {env.poolbench_version or '?'}, commit {env.commit_label[:12]}, "
            f"{env.created_utc}"
        ),
    )
    for i in keep:
        header = summary.headers[i]
        short = _SHORT.get(header, header)
        table.add_column(short, no_wrap=True, justify="right", min_width=len(short))
    for row, flagged in zip(summary.rows, summary.flagged, strict=True):
        cells = (_compact(row[i], summary.headers[i]) for i in keep)
        table.add_row(*cells, style="red" if flagged else None)
    # Wide enough for every column, so no header is cut ("Retried" must show).
    console = Console(highlight=False, width=max(100, Console().width))
    console.print(table)
    status_line = run_status_line(result_set)
    if status_line is not None:
        console.print(f"[bold red]{status_line}[/bold red]")
    for number, (point, row) in enumerate(zip(result_set.points, summary.rows, strict=True), 1):
        by_header = dict(zip(summary.headers, row, strict=True))
        if point.budget_ms is not None or point.cpu_by_part:
            other = (
                f"end-to-end p99 {by_header[BESIDE_E2E_P99]} (with the queue wait that "
                "poolbench's backlog sets)"
                if BESIDE_E2E_P99 in by_header
                else f"service p99 {by_header[SERVICE_P99]}"
            )
            console.print(
                f"point {number}: {other}; "
                f"send time {by_header[BUDGET_HEADER]} "
                f"(connect / handshake / client / sink latency / sink); "
                f"CPU % consumer / sink / loadgen / broker / machine: {by_header[CPU_HEADER]}"
            )
        if by_header.get(STARTUP_HEADER, NA) != NA:
            console.print(
                f"point {number}: start-up, seconds from the consumer's start: ready / first "
                f"delivery / steady {by_header[STARTUP_HEADER]}"
            )
        if point.cpu_cost:
            split = thread_split(point)
            console.print(
                f"point {number}: CPU µs per email consumer / sink / loadgen "
                f"{by_header[CPU_COST_HEADER]}"
                + (f" (consumer by thread: {split})" if split else "")
                + f"; busiest thread, share of a core: {busiest_threads(point) or 'n/a'}"
            )
        failed_gates = [g for g in point.gates if not g.passed]
        if failed_gates:
            console.print(
                f"[red]point {number}: GATE FAILED:[/red] "
                + "; ".join(f"{g.gate} (measured: {g.measured})" for g in failed_gates)
            )
        notes = (
            ([f"lost {point.lost} of {point.produced}"] if point.has_losses else [])
            + ([f"{point.duplicates} duplicate(s)"] if point.duplicates else [])
            + list(point.warnings)
        )
        if notes:
            console.print(f"[red]point {number}:[/red] " + "; ".join(notes))


# Terminal headers, short enough for 80 columns.
_SHORT = {
    "Throughput": "Thrpt",
    "Latency avg (end to end)": "Lat avg",
    "p99 (end to end)": "p99",
    "Service p99": "Svc p99",
    "Latency avg (service)": "Svc avg",
    "p99 (service)": "Svc p99",
    "Memory": "Mem",
    "Share of ideal": "%ideal",
    "Kept up": "Kept",
}


def _compact(cell: str, header: str = "") -> str:
    if cell == "saturating":
        return "sat."
    if header == "Share of ideal":
        return cell.removesuffix("/s")  # "96% of 50.0": the rate beside Thrpt's unit
    return cell.replace(" / ", "/").replace(" /s", "/s").replace(" ms", "ms").replace(" MB", "MB")
