"""The summary table in the seed's shape, as text cells (no pandas; the terminal uses it).

`Workers | Buffer | Throughput | Latency avg | p99 | Memory`, then the other latency, the
offered rate, the ideal and the share of it,
whether the consumer kept up, where the send time went, who was busy, the accounting and
the warnings; swept settings other than workers and buffer get a column in front. A
figure that was not measured reads "n/a", never 0.

The headline latency is the consumer's. Under an open load that is end to end (from the
intended send time to receipt): the consumer's own wait for work is part of it. Under a
saturating load the end-to-end figure is mostly the queue wait that poolbench itself
sets, by the backlog it keeps ahead of the group, so a run whose every point saturates
headlines the service time (worker start to receipt) and shows end to end beside it
(each point's warnings say how big that backlog was), unless a point has no service
time. Gate names do not change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from poolbench.results import PointResult, ResultSet

WORKERS: Final = "consumer.workers"
BUFFER: Final = "consumer.buffer"

E2E_AVG: Final = "Latency avg (end to end)"
E2E_P99: Final = "p99 (end to end)"
SERVICE_AVG: Final = "Service avg"
SERVICE_P99: Final = "Service p99"
# The same figures when a saturated run headlines the service time.
HEADLINE_SERVICE_AVG: Final = "Latency avg (service)"
HEADLINE_SERVICE_P99: Final = "p99 (service)"
BESIDE_E2E_AVG: Final = "End-to-end avg"
BESIDE_E2E_P99: Final = "End-to-end p99"
STARTUP_HEADER: Final = "Start-up s: ready / first delivery / steady"
SEED_COLUMNS: Final = (
    "Workers",
    "Buffer",
    "Throughput",
    E2E_AVG,
    E2E_P99,
    "Memory",
)
BUDGET_HEADER: Final = "Send time: connect / handshake / client / sink latency / sink"
CPU_HEADER: Final = "CPU %: consumer / sink / loadgen / broker / machine"
CPU_COST_HEADER: Final = "CPU µs per email: consumer / sink / loadgen"
EXTRA_COLUMNS: Final = (
    SERVICE_AVG,
    SERVICE_P99,
    "Offered",
    "Ideal",
    "Share of ideal",
    "Kept up",
    BUDGET_HEADER,
    CPU_HEADER,
    CPU_COST_HEADER,
    STARTUP_HEADER,
    "Lost",
    "Dup",
    "DLQ",
    "Retried",
    "Status",
    "Warnings",
)
NA: Final = "n/a"
# A point's status: it measured nothing usable; a scenario gate failed on it; it lost
# email; it has warnings; clean.
FAILED: Final = "FAILED"
GATE_FAILED: Final = "GATE FAILED"
LOST: Final = "LOST"
WARNINGS: Final = "warnings"
OK: Final = "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryTable:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    flagged: tuple[bool, ...]  # per row: losses or warnings, for highlighting


def setting(result_set: ResultSet, point: PointResult, path: str) -> Any:
    """A point's value of a dotted setting: swept, else the scenario's base value."""
    if path in point.params:
        return point.params[path]
    node: Any = result_set.scenario
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def swept_paths(result_set: ResultSet) -> list[str]:
    """Dotted paths swept in this result set, in the order they first appear."""
    paths: list[str] = []
    for point in result_set.points:
        for path in point.params:
            if path not in paths:
                paths.append(path)
    return paths


def headlines_service(result_set: ResultSet) -> bool:
    """Does this run headline the service time? When every point saturates and every
    point that measured anything has one (a consumer that reports no service time keeps
    the end-to-end headline rather than an n/a)."""
    points = result_set.points
    return (
        bool(points)
        and all(p.load_mode == "saturate" for p in points)
        and all(p.service_ms is not None for p in points if p.latency_ms is not None)
    )


def headline_words(result_set: ResultSet) -> str:
    """One sentence for a report: which latency the table headlines, and why."""
    if headlines_service(result_set):
        return (
            "Every point saturates the consumer, so the latency headlined is its service "
            "time (worker start to receipt); end to end, beside it, is mostly the queue wait "
            "that poolbench itself sets by the backlog it keeps ahead of the group."
        )
    return (
        "The latency headlined is end to end, from the intended send time to receipt; "
        "service runs from the worker's start to receipt."
    )


def _renamed(columns: tuple[str, ...], service: bool) -> tuple[str, ...]:
    if not service:
        return columns
    names = {
        E2E_AVG: HEADLINE_SERVICE_AVG,
        E2E_P99: HEADLINE_SERVICE_P99,
        SERVICE_AVG: BESIDE_E2E_AVG,
        SERVICE_P99: BESIDE_E2E_P99,
    }
    return tuple(names.get(c, c) for c in columns)


def summary_table(result_set: ResultSet) -> SummaryTable:
    others = [p for p in swept_paths(result_set) if p not in (WORKERS, BUFFER)]
    repeats = len({p.repeat for p in result_set.points}) > 1
    service_first = headlines_service(result_set)
    headers = (
        *(_short(p) for p in others),
        *(("Repeat",) if repeats else ()),
        *_renamed(SEED_COLUMNS, service_first),
        *_renamed(EXTRA_COLUMNS, service_first),
    )
    rows: list[tuple[str, ...]] = []
    flagged: list[bool] = []
    for point in result_set.points:
        e2e, service, memory = point.latency_ms, point.service_ms, point.memory_mb
        first, beside = (service, e2e) if service_first else (e2e, service)
        rows.append(
            (
                *(_cell(setting(result_set, point, p)) for p in others),
                *((str(point.repeat + 1),) if repeats else ()),
                _cell(setting(result_set, point, WORKERS)),
                _cell(setting(result_set, point, BUFFER)),
                with_unit(point.throughput_per_s, "/s"),
                with_unit(None if first is None else first.avg, "ms"),
                with_unit(None if first is None else first.p99, "ms"),
                with_unit(None if memory is None else memory.peak, "MB"),
                with_unit(None if beside is None else beside.avg, "ms"),
                with_unit(None if beside is None else beside.p99, "ms"),
                with_unit(point.offered_per_s, "/s") if point.load_mode == "open" else "saturating",
                with_unit(point.ideal_throughput_per_s, "/s"),
                share_cell(point),
                NA if point.kept_up is None else ("yes" if point.kept_up else "NO"),
                budget_cell(point),
                cpu_cell(point),
                cpu_cost_cell(point),
                startup_cell(point),
                str(point.lost),
                str(point.duplicates),
                str(point.dead_lettered),
                str(point.retried),
                point_status(point),
                "; ".join(point.warnings),
            )
        )
        flagged.append(
            point.has_losses or point.failed or point.gate_failed or bool(point.warnings)
        )
    return SummaryTable(headers=headers, rows=tuple(rows), flagged=tuple(flagged))


def startup_cell(point: PointResult) -> str:
    """`ready / first delivery / steady`, seconds from the consumer's start; n/a each."""
    cells = (point.ready_s, point.first_delivery_s, point.steady_s)
    if all(c is None for c in cells):
        return NA
    return " / ".join(NA if c is None else f"{c:.1f}" for c in cells)


def _short(path: str) -> str:
    """`sink.faults.transient` -> `faults.transient`: the section is rarely needed."""
    parts = path.split(".")
    return ".".join(parts[1:]) if len(parts) > 1 else path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def point_status(point: PointResult) -> str:
    if point.failed:
        return FAILED
    if point.gate_failed:
        return GATE_FAILED
    if point.has_losses:
        return LOST
    return WARNINGS if point.warnings else OK


def run_status(result_set: ResultSet) -> str | None:
    """The run's marker: PARTIAL (stopped early), FAILED (a point measured nothing), or
    None for a run that measured every point."""
    if result_set.partial:
        return "PARTIAL"
    if result_set.failed_points:
        return FAILED
    return None


def run_status_line(result_set: ResultSet) -> str | None:
    """One sentence for the top of a report and the terminal; None for a clean run."""
    status = run_status(result_set)
    if status is None:
        return None
    failed = result_set.failed_points
    parts = []
    if result_set.partial:
        parts.append(result_set.stop_reason or "not every point was measured")
    if failed:
        parts.append(
            f"{failed} of {len(result_set.points)} point(s) measured nothing usable "
            "(their figures read n/a)"
        )
    return f"{status} run: " + "; ".join(parts)


def share_cell(point: PointResult) -> str:
    """`92% of 250/s`: the share with the ideal it is a share of (for an open load the
    ideal is at most the offered rate, shown beside it)."""
    share = point.share_of_ideal
    if share is None:
        return NA
    return f"{share:.0%} of {format_number(point.ideal_throughput_per_s)}/s"


def budget_cell(point: PointResult) -> str:
    """The send time's parts in ms, e.g. `0.4 / 1.2 / 2.9 / 20 / 0.8 = 25.3 ms`."""
    budget = point.budget_ms
    if budget is None:
        return NA
    parts = " / ".join(format_number(v) for v in budget.parts().values())
    return f"{parts} = {format_number(budget.send_ms)} ms"


def cpu_cell(point: PointResult) -> str:
    cpu = point.cpu_by_part
    return " / ".join(
        format_number(cpu[part]) if part in cpu else NA
        for part in ("consumer", "sink", "loadgen", "broker", "machine")
    )


def cpu_cost_cell(point: PointResult) -> str:
    """The exact CPU per email of each part, e.g. `212 / 95 / 40`."""
    return " / ".join(
        format_number(value)
        for value in (
            point.cpu_us_per_email,
            point.sink_cpu_us_per_email,
            point.loadgen_cpu_us_per_email,
        )
    )


def busiest_threads(point: PointResult) -> str | None:
    """`consumer: event loop 96%, sink: event loop 40%` (of a core), or None."""
    parts = [
        f"{part}: {cost.busiest_thread} {cost.busiest_share:.0%}"
        for part, cost in point.cpu_cost.items()
        if cost.busiest_thread is not None and part in ("consumer", "sink", "loadgen")
    ]
    return ", ".join(parts) or None


def thread_split(point: PointResult) -> str | None:
    """The consumer's CPU per email by thread name: `event loop 150, poolbench-poll 40`."""
    cost = point.cpu_cost.get("consumer")
    if cost is None or not cost.emails:
        return None
    ranked = sorted(cost.threads.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {format_number(s * 1e6 / cost.emails)}" for name, s in ranked)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateRow:
    """One gate on one point, for the reports' Gates section."""

    point: int  # numbered from 1, as in the results table
    params: str
    gate: str
    verdict: str  # "passed", "FAILED" or "not evaluated"
    measured: str


def gate_rows(result_set: ResultSet) -> list[GateRow]:
    """Each scenario gate's verdict per point, as stored in results.json; a gate that a
    point does not carry (a run stopped before its gates, an older file) reads "not
    evaluated", never passed."""
    gates = [str(g) for g in result_set.scenario.get("gates") or []]
    rows: list[GateRow] = []
    for number, point in enumerate(result_set.points, 1):
        params = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "(no sweep)"
        if point.repeat:
            params += f" #{point.repeat + 1}"
        stored = {g.gate: g for g in point.gates}
        for gate in [*gates, *(g for g in stored if g not in gates)]:
            verdict = stored.get(gate)
            rows.append(
                GateRow(
                    point=number,
                    params=params,
                    gate=gate,
                    verdict="not evaluated"
                    if verdict is None
                    else ("passed" if verdict.passed else "FAILED"),
                    measured="" if verdict is None else verdict.measured,
                )
            )
    return rows


def with_unit(value: float | None, unit: str) -> str:
    return NA if value is None else f"{format_number(value)} {unit}"


def format_number(value: float | None) -> str:
    """Three significant figures, no exponent for the sizes we see: 92.1, 1,234, 0.5."""
    if value is None or math.isnan(value):  # not measured
        return NA
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2g}" if value else "0"
