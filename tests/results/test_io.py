import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from poolbench.errors import ResultsError, UserError
from poolbench.metrics.histogram import LatencyHistogram
from poolbench.results import (
    METRIC_NAMES,
    RESULTS_FILE,
    SCHEMA_VERSION,
    Environment,
    Latency,
    Memory,
    PointResult,
    ResultSet,
    TimelineSample,
    from_dict,
    load,
    run_directory,
    save,
)


def _env(**changes: Any) -> Environment:
    values: dict[str, Any] = {
        "host": "box",
        "platform": "Linux-6.1-x86_64",
        "machine": "Linux x86_64",
        "cpu_model": "AMD EPYC",
        "cpu_count": 2,
        "python": "3.11.9",
        "versions": {"poolbench": "0.1.0", "confluent-kafka": "2.16.1", "librdkafka": "2.16.0"},
        "git_commit": "abc123",
        "created_utc": "2026-11-27T21:00:00Z",
    }
    values.update(changes)
    return Environment(**values)


def _point(workers: int, **changes: Any) -> PointResult:
    hist = LatencyHistogram()
    for ms in (90, 100, 110, 250):
        hist.record_seconds(ms / 1000)
    values: dict[str, Any] = {
        "params": {"consumer.workers": workers, "consumer.buffer": workers * 10},
        "repeat": 0,
        "load_mode": "open",
        "throughput_per_s": 9.2 * workers,
        "offered_per_s": 10.0 * workers,
        "kept_up": False,
        "ideal_throughput_per_s": 10.0 * workers,
        "latency_ms": Latency.from_mapping(hist.summary().as_dict()),
        "wait_ms": Latency(avg=1, p50=1, p90=2, p95=2, p99=3, p999=3, max=4),
        "memory_mb": Memory(peak=48.5, mean=47.0),
        "cpu_percent": 12.5,
        "cpu_by_part": {"consumer": 12.5, "sink": 30.0, "machine": 60.0},
        "produced": 100,
        "delivered": 97,
        "lost": 1,
        "duplicates": 1,
        "retried": 4,
        "dead_lettered": 2,
        "warnings": ("sink CPU above 90%",),
        "timeline": (
            TimelineSample(t_s=0, delivered_per_s=9, queue_depth=3, p99_ms=120, rss_mb=47),
            TimelineSample(t_s=1, delivered_per_s=10, queue_depth=2, p99_ms=110, rss_mb=48),
        ),
        "histogram": hist.encode(),
    }
    values.update(changes)
    return PointResult(**values)


def _result_set(points: tuple[PointResult, ...] | None = None) -> ResultSet:
    return ResultSet(
        scenario_name="seed-table",
        scenario={"name": "seed-table", "sweep": {"consumer.workers": [1, 5]}},
        scenario_hash="f" * 64,
        environment=_env(),
        points=points if points is not None else (_point(1), _point(5)),
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    original = _result_set()
    written = save(original, tmp_path / "run")
    assert written == tmp_path / "run" / RESULTS_FILE
    loaded = load(tmp_path / "run")
    assert loaded == original
    assert loaded.to_dict() == original.to_dict()
    assert LatencyHistogram.decode(loaded.points[0].histogram or "").count == 4


def test_file_carries_the_issue_fields(tmp_path: Path) -> None:
    data = json.loads(save(_result_set(), tmp_path).read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    record = data["points"][0]
    for key in (
        "params",
        "throughput_per_s",
        "ideal_throughput_per_s",
        "latency_ms",
        "memory_mb",
        "cpu_percent",
        "produced",
        "delivered",
        "duplicates",
        "dead_lettered",
        "lost",
        "warnings",
    ):
        assert key in record
    assert record["lost"] == 1
    assert set(record["latency_ms"]) == {"avg", "p50", "p90", "p95", "p99", "p999", "max"}


def test_lost_is_stored_and_every_email_must_be_accounted_for() -> None:
    point = _point(1)
    assert point.lost == 1
    assert point.has_losses
    data = _result_set().to_dict()
    data["points"][1]["lost"] = 0
    with pytest.raises(ResultsError, match=r"points\[1\]\.lost: delivered \+ dead_lettered"):
        from_dict(data)
    with pytest.raises(ResultsError, match="but produced = 100"):
        _point(1, dropped_by_broker=2)
    assert _point(1, dropped_by_broker=1, lost=0).lost == 0
    # Still in Kafka when the consumers stopped: counted apart from lost.
    assert _point(1, lost=0, undelivered=1).undelivered == 1
    data = _result_set().to_dict()
    del data["points"][0]["undelivered"]  # a file written before it was counted
    assert from_dict(data).points[0].undelivered == 0


def test_a_failed_point_has_no_figures_and_says_why() -> None:
    failed = _point(
        1,
        error="only 3 emails were received in the steady-state window",
        throughput_per_s=None,
        latency_ms=None,
        memory_mb=None,
        cpu_percent=None,
    )
    assert failed.failed
    assert failed.share_of_ideal is None
    metrics = failed.metrics()
    assert metrics["throughput"] != metrics["throughput"]  # NaN: every gate on it fails
    assert metrics["p99_ms"] != metrics["p99_ms"]
    with pytest.raises(ResultsError, match="throughput_per_s: missing on a point without error"):
        _point(1, throughput_per_s=None)


def test_older_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = _result_set().to_dict()
    data["schema_version"] = 1
    file = tmp_path / RESULTS_FILE
    file.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"schema version 1 is not supported.*measure again"):
        load(file)


def test_partial_runs_are_marked(tmp_path: Path) -> None:
    partial = _result_set().as_partial("interrupted after 2 of 4 points")
    loaded = load(save(partial, tmp_path))
    assert loaded.partial
    assert loaded.stop_reason == "interrupted after 2 of 4 points"


def test_metrics_cover_exactly_the_gate_names() -> None:
    metrics = _point(10).metrics()
    assert tuple(metrics) == METRIC_NAMES
    assert metrics["throughput"] == pytest.approx(92.0)
    assert metrics["offered"] == pytest.approx(100.0)
    assert metrics["ideal"] == pytest.approx(100.0)
    assert metrics["kept_up"] == 0.0
    assert metrics["sink_cpu_percent"] == 30.0
    assert metrics["lost"] == 1


def test_share_of_ideal_and_params_key() -> None:
    assert _point(10).share_of_ideal == pytest.approx(0.92)
    assert _point(10, ideal_throughput_per_s=None).share_of_ideal is None
    a = _point(5, params={"b": 1, "a": 2})
    b = _point(5, params={"a": 2, "b": 1})
    assert a.params_key == b.params_key == '{"a":2,"b":1}'


def test_params_cannot_change_after_construction() -> None:
    params: dict[str, Any] = {"consumer.workers": 3}
    point = _point(3, params=params)
    params["consumer.workers"] = 99
    assert point.params["consumer.workers"] == 3
    with pytest.raises(TypeError):
        point.params["consumer.workers"] = 4  # type: ignore[index]


def test_schema_mismatch_names_file_and_field(tmp_path: Path) -> None:
    data = _result_set().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    file = tmp_path / RESULTS_FILE
    file.write_text(json.dumps(data))
    with pytest.raises(ResultsError) as info:
        load(file)
    assert isinstance(info.value, UserError)
    assert str(info.value).startswith(
        f"{file}:schema_version: schema version {SCHEMA_VERSION + 1} is not supported"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["points"][0].pop("delivered"), r"points\[0\]\.delivered: missing"),
        (
            lambda d: d["points"][1]["latency_ms"].update(p99="slow"),
            r"points\[1\]\.latency_ms\.p99: expected a number",
        ),
        (
            lambda d: d["points"][0]["latency_ms"].update(p50=1e6),
            r"points\[0\]\.latency_ms\.p90: percentiles must not decrease",
        ),
        (lambda d: d["points"][0].update(produced=-1), r"points\[0\]\.produced: must not be neg"),
        (lambda d: d["points"][0].update(repeat=True), r"points\[0\]\.repeat: expected an integer"),
        (lambda d: d["environment"].update(cpu_count=0), r"environment\.cpu_count: must be at"),
        (lambda d: d.update(extra=1), r"extra: unknown key"),
        (lambda d: d["points"][0]["memory_mb"].update(mean=99.0), r"memory_mb\.mean: mean=99"),
    ],
)
def test_invalid_files_are_rejected_with_the_field_path(
    tmp_path: Path, mutate: Any, message: str
) -> None:
    data = _result_set().to_dict()
    mutate(data)
    file = tmp_path / RESULTS_FILE
    file.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=message):
        load(file)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results file"):
        load(tmp_path / "nowhere")
    bad = tmp_path / RESULTS_FILE
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        load(tmp_path)


def test_environment_differences_ignore_commit_time_host_and_kernel() -> None:
    base = _env()
    same_kind = _env(
        git_commit="def456",
        created_utc="2027-01-01T00:00:00Z",
        host="runner-42",
        platform="Linux-6.5-x86_64",
    )
    assert base.differences(same_kind) == []
    assert base.differences(_env(cpu_model="Intel Xeon")) == [
        "cpu_model: 'AMD EPYC' != 'Intel Xeon'"
    ]
    other = _env(
        cpu_count=4,
        versions={"poolbench": "0.1.0", "confluent-kafka": "2.17.0", "librdkafka": "2.16.0"},
    )
    assert base.differences(other) == [
        "cpu_count: 2 != 4",
        "confluent-kafka: '2.16.1' != '2.17.0'",
    ]


def test_environment_capture_describes_this_process(tmp_path: Path) -> None:
    moment = dt.datetime(2026, 11, 27, 21, 0, tzinfo=dt.UTC)
    env = Environment.capture(repo_dir=tmp_path, now=moment)
    assert env.created_utc == "2026-11-27T21:00:00Z"
    assert env.cpu_count >= 1
    assert env.cpu_model
    assert env.machine.split()[0] in {"Linux", "Darwin", "Windows"}
    assert env.git_commit is None  # tmp_path is not a git checkout
    assert env.versions["librdkafka"] is not None
    assert env.versions["confluent-kafka"] is not None
    repo = Path(__file__).resolve().parents[2]
    assert Environment.capture(repo_dir=repo).git_commit is not None


def test_with_point_appends() -> None:
    empty = _result_set(points=())
    grown = empty.with_point(_point(1)).with_point(_point(5))
    assert [p.params["consumer.workers"] for p in grown.points] == [1, 5]
    assert empty.points == ()


def test_duplicate_points_are_rejected() -> None:
    with pytest.raises(ResultsError, match=r"points\[1\]: same params and repeat as points\[0\]"):
        _result_set(points=(_point(5), _point(5)))
    assert len(_result_set(points=(_point(5), _point(5, repeat=1))).points) == 2


def test_run_directory_is_scenario_then_utc_stamp(tmp_path: Path) -> None:
    assert run_directory(tmp_path, _result_set()) == tmp_path / "seed-table" / "20261127T210000Z"


def test_scenario_and_results_errors_share_the_located_form() -> None:
    from poolbench.errors import ConfigError, LocatedError, ScenarioError

    for kind in (ScenarioError, ResultsError):
        error = kind("bad value", path="f.yaml", key="a.b[1]")
        assert isinstance(error, LocatedError)
        assert str(error) == "f.yaml:a.b[1]: bad value"
        assert (error.message, error.path, error.key) == ("bad value", "f.yaml", "a.b[1]")
        assert str(kind("alone")) == "alone"
    assert isinstance(ScenarioError("x"), ConfigError)
    assert not isinstance(ResultsError("x"), ConfigError)


def test_a_version_2_file_still_loads_and_is_saved_as_the_current_version(
    tmp_path: Path,
) -> None:
    """Format 3 added the timeline's retries, dead letters and lag, `load_s` and
    `failed_points`; a version 2 file (a committed baseline, say) reads them as unknown."""
    data = _result_set().to_dict()
    data["schema_version"] = 2
    del data["failed_points"]
    for point in data["points"]:
        del point["load_s"]
        for sample in point["timeline"]:
            for key in ("retried_per_s", "dead_lettered_per_s", "lag"):
                del sample[key]
    file = tmp_path / RESULTS_FILE
    file.write_text(json.dumps(data))
    loaded = load(file)
    assert loaded.schema_version == 2
    assert loaded.points[0].load_s is None
    assert loaded.points[0].timeline[0].lag is None
    again = json.loads(save(loaded, tmp_path / "again").read_text())
    assert again["schema_version"] == SCHEMA_VERSION == 5
    assert again["failed_points"] == 0


def test_failed_points_are_counted_in_the_file_and_checked_on_load(tmp_path: Path) -> None:
    failed = _point(5, error="nothing measured", throughput_per_s=None, latency_ms=None)
    result_set = _result_set((_point(1), failed))
    assert result_set.failed_points == 1
    assert result_set.status == "failed"
    assert result_set.as_partial("interrupted").status == "partial"
    assert _result_set().status == "complete"
    file = save(result_set, tmp_path)
    data = json.loads(file.read_text())
    assert data["failed_points"] == 1
    assert data["points"][1]["throughput_per_s"] is None  # null, never 0
    assert data["points"][1]["latency_ms"] is None
    data["failed_points"] = 0
    file.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="failed_points: says 0, but 1 points have an error"):
        load(file)


def test_timeline_faults_round_trip(tmp_path: Path) -> None:
    sample = TimelineSample(
        t_s=8,
        delivered_per_s=0,
        queue_depth=0,
        p99_ms=None,
        rss_mb=45,
        retried_per_s=9,
        dead_lettered_per_s=3,
        lag=230,
    )
    result_set = _result_set((_point(1, timeline=(sample,), load_s=15.0),))
    loaded = load(save(result_set, tmp_path))
    assert loaded.points[0].timeline == (sample,)
    assert loaded.points[0].load_s == 15.0


def test_a_version_2_baseline_gates_a_version_3_run() -> None:
    """Version 3 only added fields: the committed baseline (version 2) still compares."""
    from poolbench.results import comparable_versions

    assert comparable_versions(2, 3) and comparable_versions(3, 2) and comparable_versions(3, 3)
    assert not comparable_versions(1, 3)


def test_gate_verdicts_and_the_cpu_cost_round_trip(tmp_path: Path) -> None:
    from poolbench.results import GateResult, PartCpu

    cost = PartCpu(
        cpu_s=0.9,
        interval_s=3.0,
        emails=4500,
        threads={"event loop": 0.7, "poolbench-poll": 0.15, "exited threads": 0.05},
        busiest_thread="event loop",
        busiest_share=0.7 / 3.0,
    )
    point = _point(
        10,
        cpu_us_per_email=200.0,
        cpu_cost={"consumer": cost},
        gates=(
            GateResult(
                gate="p99_ms < 500", passed=False, measured="612 < 500", values={"p99_ms": 612.0}
            ),
            GateResult(
                gate="throughput >= ideal",
                passed=False,
                measured="n/a: ...",
                values={"ideal": None, "throughput": 92.0},
            ),
        ),
    )
    loaded = load(save(_result_set((point,)), tmp_path))
    (again,) = loaded.points
    assert again.cpu_us_per_email == pytest.approx(200.0)
    assert again.cpu_cost["consumer"] == cost
    assert again.gates == point.gates
    assert again.gate_failed
    assert again.metrics()["cpu_us_per_email"] == pytest.approx(200.0)


def test_a_cpu_figure_that_disagrees_with_its_detail_is_refused() -> None:
    from poolbench.results import PartCpu

    cost = PartCpu(cpu_s=0.9, interval_s=3.0, emails=4500)
    with pytest.raises(ResultsError, match=r"disagrees with cpu_cost\.consumer"):
        _point(10, cpu_us_per_email=150.0, cpu_cost={"consumer": cost})


def test_an_old_file_s_ideal_of_zero_reads_as_no_value(tmp_path: Path) -> None:
    """Versions 2 and 3 stored "no finite bound" as 0.0; read as a value it passed any gate."""
    data = _result_set((_point(10, ideal_throughput_per_s=None),)).to_dict()
    assert data["points"][0]["ideal_throughput_per_s"] is None
    data["schema_version"] = 3
    data["points"][0]["ideal_throughput_per_s"] = 0.0
    for key in (
        "cpu_us_per_email",
        "sink_cpu_us_per_email",
        "loadgen_cpu_us_per_email",
        "cpu_cost",
        "gates",
    ):
        del data["points"][0][key]
    (point,) = from_dict(data).points
    assert point.ideal_throughput_per_s is None
    assert math.isnan(point.metrics()["ideal"])
    del data["points"][0]["ideal_throughput_per_s"]
    with pytest.raises(ResultsError, match="missing"):
        from_dict(data)


def test_a_point_that_counted_nothing_stores_null_counts_never_zero(tmp_path: Path) -> None:
    from poolbench.run.sweep import failed_point
    from poolbench.scenario import expand, parse_scenario

    [scenario_point] = expand(parse_scenario({"name": "t"}))
    failed = failed_point(scenario_point, "the sink died under load")
    assert failed.produced is None and failed.delivered is None
    data = json.loads(save(_result_set((_point(1), failed)), tmp_path).read_text())
    assert data["points"][1]["produced"] is None and data["points"][1]["delivered"] is None
    assert math.isnan(failed.metrics()["produced"])
    again = load(tmp_path / RESULTS_FILE)
    assert again.points[1].produced is None
    # Null counts claim that nothing was counted: only on a failed point, with no count.
    with pytest.raises(ResultsError, match="null only on a point with an error"):
        _point(2, produced=None, delivered=None)
    with pytest.raises(ResultsError, match="must be null or 0 when nothing was counted"):
        _point(2, error="x", produced=None, delivered=None, lost=3)
