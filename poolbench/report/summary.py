"""The summary table in the seed's shape, as text cells (no pandas; the terminal uses it).

`Workers | Buffer | Throughput | Latency avg | p99 | Memory`, then the ideal, the share of
the ideal, losses/duplicates/dead letters and warnings; swept settings other than
workers and buffer get a column in front.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from poolbench.results import PointResult, ResultSet

WORKERS: Final = "consumer.workers"
BUFFER: Final = "consumer.buffer"

SEED_COLUMNS: Final = ("Workers", "Buffer", "Throughput", "Latency avg", "p99", "Memory")
EXTRA_COLUMNS: Final = ("Ideal", "Share of ideal", "Lost / Dup / DLQ", "Warnings")


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


def summary_table(result_set: ResultSet) -> SummaryTable:
    others = [p for p in swept_paths(result_set) if p not in (WORKERS, BUFFER)]
    repeats = len({p.repeat for p in result_set.points}) > 1
    headers = (
        *(_short(p) for p in others),
        *(("Repeat",) if repeats else ()),
        *SEED_COLUMNS,
        *EXTRA_COLUMNS,
    )
    rows: list[tuple[str, ...]] = []
    flagged: list[bool] = []
    for point in result_set.points:
        share = point.share_of_ideal
        rows.append(
            (
                *(_cell(setting(result_set, point, p)) for p in others),
                *((str(point.repeat + 1),) if repeats else ()),
                _cell(setting(result_set, point, WORKERS)),
                _cell(setting(result_set, point, BUFFER)),
                f"{format_number(point.throughput_per_s)} /s",
                f"{format_number(point.latency_ms.avg)} ms",
                f"{format_number(point.latency_ms.p99)} ms",
                f"{format_number(point.memory_mb.peak)} MB",
                f"{format_number(point.ideal_throughput_per_s)} /s",
                "n/a" if share is None else f"{share:.0%}",
                f"{point.lost} / {point.duplicates} / {point.dead_lettered}",
                "; ".join(point.warnings),
            )
        )
        flagged.append(point.has_losses or bool(point.warnings))
    return SummaryTable(headers=headers, rows=tuple(rows), flagged=tuple(flagged))


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


def format_number(value: float) -> str:
    """Three significant figures, no exponent for the sizes we see: 92.1, 1,234, 0.5."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2g}" if value else "0"
