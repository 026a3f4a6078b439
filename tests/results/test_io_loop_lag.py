"""The loop-lag figures of a point's budget survive results.json, and may be absent."""

from __future__ import annotations

import json
from pathlib import Path

from poolbench.results import ResultSet, load, save
from poolbench.results.model import Budget
from tests.results.test_io import _env, _point


def _budget(**lags: float | None) -> Budget:
    return Budget(
        emails=10,
        new_connections=10,
        send_ms=60.0,
        connect_ms=1.0,
        handshake_ms=2.0,
        client_ms=3.0,
        server_latency_ms=50.0,
        server_ms=4.0,
        residual_ms=0.0,
        after_ms=5.0,
        **lags,
    )


def _set(budget: Budget) -> ResultSet:
    return ResultSet(
        scenario_name="seed-table",
        scenario={"name": "seed-table"},
        scenario_hash="f" * 64,
        environment=_env(),
        points=(_point(1, budget_ms=budget),),
    )


def test_lag_figures_round_trip(tmp_path: Path) -> None:
    budget = _budget(
        consumer_lag_p50_ms=0.2,
        consumer_lag_p99_ms=13.0,
        consumer_lag_max_ms=23.0,
        sink_lag_p50_ms=0.1,
        sink_lag_p99_ms=2.5,
        sink_lag_max_ms=9.0,
    )
    original = _set(budget)
    path = save(original, tmp_path / "run")
    record = json.loads(path.read_text())["points"][0]["budget_ms"]
    assert record["consumer_lag_p99_ms"] == 13.0 and record["sink_lag_max_ms"] == 9.0
    assert load(tmp_path / "run") == original


def test_a_budget_without_lag_figures_reads_them_as_not_measured(tmp_path: Path) -> None:
    path = save(_set(_budget()), tmp_path / "run")
    doc = json.loads(path.read_text())
    for key in [k for k in doc["points"][0]["budget_ms"] if "_lag_" in k]:
        del doc["points"][0]["budget_ms"][key]  # as written before the lag was measured
    path.write_text(json.dumps(doc))
    loaded = load(tmp_path / "run").points[0].budget_ms
    assert loaded is not None
    assert loaded.consumer_lag_p99_ms is None and loaded.sink_lag_p50_ms is None
