"""The Grafana dashboard of `poolbench consume`, as code: `python deploy/grafana/generate.py`
writes deploy/grafana/consumer.json (import it in Grafana, pick your Prometheus).

Built with grafana-foundation-sdk (Grafana's own typed builders; `pip install
'poolbench[deploy]'`). tests/deploy/test_grafana_dashboard.py checks that the committed
JSON is what this code makes and that every query names a metric a running consumer
exports, so edit this file, never the JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
)

OUT: Final = Path(__file__).resolve().with_name("consumer.json")
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query filters on the two variables below.
SEL: Final = 'job=~"$job", instance=~"$instance"'
RATE: Final = "[$__rate_interval]"


def _query(expr: str, legend: str, ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _series(title: str, unit: str, description: str, *queries: tuple[str, str]) -> TimeSeries:
    panel = (
        TimeSeries()
        .title(title)
        .description(description)
        .unit(unit)
        .min(0)
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _p(quantile: float, histogram: str) -> str:
    return f"histogram_quantile({quantile}, sum by (le) (rate({histogram}_bucket{{{SEL}}}{RATE})))"


def dashboard() -> Any:
    """The dashboard model, built."""
    breaker_states = ValueMap(
        {
            "0": ValueMappingResult(text="closed", color="green", index=0),
            "1": ValueMappingResult(text="half-open", color="orange", index=1),
            "2": ValueMappingResult(text="open", color="red", index=2),
        }
    )
    board = (
        Dashboard("poolbench consumer")
        .uid("poolbench-consumer")
        .description(
            "The pooled Kafka-to-SMTP email consumer (`poolbench consume`): throughput, "
            "failures, backlog, latency, process. Alerts: deploy/prometheus/."
        )
        .tags(["poolbench", "kafka", "smtp"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            QueryVariable("job")
            .label("Job")
            .datasource(DATASOURCE)
            .query("label_values(poolbench_workers, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .multi(True)
        )
        .with_variable(
            QueryVariable("instance")
            .label("Instance")
            .datasource(DATASOURCE)
            .query('label_values(poolbench_workers{job=~"$job"}, instance)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .multi(True)
        )
    )
    items: list[tuple[str, Any]] = [
        ("row", Row("Now")),
        (
            "panel",
            Stat()
            .title("Circuit breaker")
            .description("Closed, half-open (a probe is out) or open (sends wait).")
            .datasource(DATASOURCE)
            .mappings([breaker_states])
            .height(4)
            .span(6)
            .with_target(
                _query(
                    f"max by (instance) (poolbench_circuit_breaker_state{{{SEL}}})", "{{instance}}"
                )
            ),
        ),
        (
            "panel",
            Stat()
            .title("Consumer lag")
            .description("Messages behind the high watermark, over every partition.")
            .unit("short")
            .datasource(DATASOURCE)
            .height(4)
            .span(6)
            .with_target(_query(f"sum(poolbench_consumer_lag{{{SEL}}})", "lag")),
        ),
        (
            "panel",
            Stat()
            .title("Partitions assigned")
            .datasource(DATASOURCE)
            .height(4)
            .span(6)
            .with_target(_query(f"sum(poolbench_assigned_partitions{{{SEL}}})", "partitions")),
        ),
        (
            "panel",
            Stat()
            .title("Fetching paused")
            .description("Instances whose fetching is paused (breaker not closed, or no room).")
            .datasource(DATASOURCE)
            .height(4)
            .span(6)
            .with_target(_query(f"sum(poolbench_consumption_paused{{{SEL}}})", "paused")),
        ),
        ("row", Row("Throughput and failures")),
        (
            "panel",
            _series(
                "Emails and events",
                "ops",
                "Per second. Undeliverable: failed for good (5xx, retries exhausted); "
                "dead-lettered also counts invalid events.",
                (f"sum(rate(poolbench_events_consumed_total{{{SEL}}}{RATE}))", "consumed"),
                (f"sum(rate(poolbench_emails_sent_total{{{SEL}}}{RATE}))", "sent"),
                (
                    f"sum(rate(poolbench_emails_undeliverable_total{{{SEL}}}{RATE}))",
                    "undeliverable",
                ),
                (
                    f"sum(rate(poolbench_events_dead_lettered_total{{{SEL}}}{RATE}))",
                    "dead-lettered",
                ),
                (f"sum(rate(poolbench_events_invalid_total{{{SEL}}}{RATE}))", "invalid"),
            ),
        ),
        (
            "panel",
            _series(
                "Failed send attempts by class",
                "ops",
                "Attempts, not emails: one email retried through an outage fails many times.",
                (
                    f"sum by (class) (rate(poolbench_send_attempts_failed_total{{{SEL}}}{RATE}))",
                    "{{class}}",
                ),
                (f"sum(rate(poolbench_send_retries_total{{{SEL}}}{RATE}))", "retries"),
                (
                    f"sum(increase(poolbench_circuit_breaker_opened_total{{{SEL}}}{RATE}))",
                    "breaker opened",
                ),
            ),
        ),
        ("row", Row("Backlog and pool")),
        (
            "panel",
            _series(
                "Consumer lag",
                "short",
                "Messages behind the high watermark; asked of the broker while fetching is "
                "paused, so it keeps rising in an outage.",
                (f"sum by (instance) (poolbench_consumer_lag{{{SEL}}})", "{{instance}}"),
            ),
        ),
        (
            "panel",
            _series(
                "Pool",
                "short",
                "Busy workers near workers: the pool, not Kafka or SMTP, limits the rate.",
                (f"sum(poolbench_busy_workers{{{SEL}}})", "busy workers"),
                (f"sum(poolbench_workers{{{SEL}}})", "workers"),
                (f"sum(poolbench_queue_length{{{SEL}}})", "queued"),
                (f"sum(poolbench_queue_capacity{{{SEL}}})", "queue capacity"),
                (f"sum(poolbench_overflow_length{{{SEL}}})", "waiting for room"),
            ),
        ),
        ("row", Row("Latency")),
        (
            "panel",
            _series(
                "SMTP send attempt",
                "s",
                "One SMTP send attempt, successful or not.",
                (_p(0.5, "poolbench_send_latency_seconds"), "p50"),
                (_p(0.99, "poolbench_send_latency_seconds"), "p99"),
            ),
        ),
        (
            "panel",
            _series(
                "End to end and queue wait",
                "s",
                "End to end: the event's Kafka timestamp to the SMTP server's acceptance. "
                "Queue wait: a job's wait for a worker.",
                (_p(0.5, "poolbench_end_to_end_seconds"), "end to end p50"),
                (_p(0.99, "poolbench_end_to_end_seconds"), "end to end p99"),
                (_p(0.99, "poolbench_queue_wait_seconds"), "queue wait p99"),
            ),
        ),
        ("row", Row("Process")),
        (
            "panel",
            _series(
                "Memory",
                "bytes",
                "Resident memory of each consumer process.",
                (f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}"),
            ),
        ),
        (
            "panel",
            _series(
                "CPU",
                "percentunit",
                "CPU time per second of each consumer process (1 = one core).",
                (f"rate(process_cpu_seconds_total{{{SEL}}}{RATE})", "{{instance}}"),
            ),
        ),
    ]
    # Unique panel ids, in reading order (Grafana links and edits panels by id).
    for number, (kind, item) in enumerate(items, start=1):
        board = (
            board.with_row(item.id(number)) if kind == "row" else board.with_panel(item.id(number))
        )
    return board.build()


def render() -> str:
    """The dashboard's JSON, as committed (stable key order, newline at the end)."""
    return json.dumps(dashboard(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.write_text(render())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
