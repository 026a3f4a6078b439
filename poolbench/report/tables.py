"""Results as a pandas DataFrame, CSV (one row per point) and a markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from poolbench.report.summary import BUFFER, WORKERS, setting, summary_table, swept_paths
from poolbench.results import CPU_COST_FIELDS, CPU_PARTS, LATENCY_KEYS, Budget, ResultSet


def to_frame(result_set: ResultSet) -> pd.DataFrame:
    """One row per point and repeat: swept settings (by dotted path) then every measure.

    `consumer.workers` and `consumer.buffer` are always present (the scenario's value
    when not swept), since every chart plots against them.
    """
    paths = swept_paths(result_set)
    for path in (WORKERS, BUFFER):
        if path not in paths:
            paths.append(path)
    records: list[dict[str, Any]] = []
    for point in result_set.points:
        record: dict[str, Any] = {path: setting(result_set, point, path) for path in paths}
        record["repeat"] = point.repeat
        record["load_mode"] = point.load_mode
        record["error"] = point.error
        record["throughput_per_s"] = point.throughput_per_s
        record["offered_per_s"] = point.offered_per_s
        record["kept_up"] = point.kept_up
        record["ideal_throughput_per_s"] = point.ideal_throughput_per_s
        record["share_of_ideal"] = point.share_of_ideal
        for name, lat in (("latency", point.latency_ms), ("service", point.service_ms)):
            for key in LATENCY_KEYS:
                record[f"{name}_{key}_ms"] = None if lat is None else getattr(lat, key)
        for key in ("avg", "p50", "p99"):
            record[f"wait_{key}_ms"] = (
                None if point.wait_ms is None else getattr(point.wait_ms, key)
            )
        budget = point.budget_ms
        for key in ("send_ms", *Budget.PARTS, "residual_ms", "after_ms"):
            record[f"budget_{key}"] = None if budget is None else getattr(budget, key)
        memory = point.memory_mb
        record["memory_peak_mb"] = None if memory is None else memory.peak
        record["memory_mean_mb"] = None if memory is None else memory.mean
        record["cpu_percent"] = point.cpu_percent
        for part in CPU_PARTS:
            if part != "consumer":
                record[f"{part}_cpu_percent"] = point.cpu_by_part.get(part)
        for name in CPU_COST_FIELDS.values():
            record[name] = getattr(point, name)
        consumer = point.cpu_cost.get("consumer")
        for thread, seconds in consumer.threads.items() if consumer else ():
            # The consumer's CPU per email by thread name (event loop, Kafka poll, ...).
            per_email = seconds * 1e6 / consumer.emails if consumer and consumer.emails else None
            record[f"cpu_us_per_email[{thread}]"] = per_email
        record["gates_failed"] = sum(1 for g in point.gates if not g.passed)
        record["harness_saturated"] = point.harness_saturated
        for name in (
            "produced",
            "delivered",
            "duplicates",
            "retried",
            "dead_lettered",
            "dropped_by_broker",
            "lost",
            "inconsistencies",
        ):
            record[name] = getattr(point, name)
        record["warnings"] = "; ".join(point.warnings)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    # Figures a point did not measure are None: as numbers they are NaN (an empty CSV
    # cell, a gap in a chart), never 0.
    for column in frame.columns:
        if column.endswith(_NUMERIC_SUFFIXES):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


_NUMERIC_SUFFIXES = ("_ms", "_per_s", "_mb", "_percent", "share_of_ideal", "_per_email")


def write_csv(result_set: ResultSet, path: Path) -> Path:
    to_frame(result_set).to_csv(path, index=False)
    return path


def markdown_table(result_set: ResultSet) -> str:
    """The seed's table shape plus ideal, losses and warnings, as GitHub markdown."""
    table = summary_table(result_set)
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join(" --- " for _ in table.headers) + "|",
    ]
    lines.extend("| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows)
    return "\n".join(lines) + "\n"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|") or " "
