"""deploy/grafana/consumer.json: what deploy/grafana/generate.py makes, and every query
names metrics that a running consumer exports (its live /metrics)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import LiveMetrics

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
# PromQL's words (functions, aggregations, keywords) and Grafana's $__ variables.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "without", "rate", "increase", "irate",
    "histogram_quantile", "label_values", "le", "job", "instance", "class",
}  # fmt: skip


def _generator() -> ModuleType:
    pytest.importorskip("grafana_foundation_sdk", reason="pip install -e '.[test]'")
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _queries(doc: Any) -> list[str]:
    """Every PromQL expression in the dashboard: panel targets and variable queries."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "expr" or (key == "query" and isinstance(value, str) and "(" in value):
                found.append(value)
            else:
                found.extend(_queries(value))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_queries(item))
    return found


def _metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_ranges))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("__")}


def test_the_committed_dashboard_is_what_the_code_generates() -> None:
    generated = _generator().render()
    committed = (GRAFANA / "consumer.json").read_text()
    # On failure: python deploy/grafana/generate.py
    assert committed == generated


def test_every_query_names_a_metric_the_running_consumer_exports(
    live_metrics: LiveMetrics,
) -> None:
    exported = set(re.findall(r"^(\w+)[ {]", live_metrics.text, re.M))
    queries = _queries(json.loads((GRAFANA / "consumer.json").read_text()))
    assert len(queries) >= 20, queries
    for expr in queries:
        names = _metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} names {sorted(names - exported)}, not exported"


def test_the_query_reader_finds_a_misspelt_metric() -> None:
    assert _metric_names('sum(rate(poolbench_emails_sent{job=~"$job"}[$__rate_interval]))') == {
        "poolbench_emails_sent"
    }
