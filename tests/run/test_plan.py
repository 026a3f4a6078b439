"""A point's plan is computed from the scenario alone: exact, no process or socket."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from poolbench.errors import ConfigError
from poolbench.loadgen.schedule import parse_profile
from poolbench.run.figures import LoadMode
from poolbench.run.plan import SINK_LEAD_S, offered_rate, plan_point
from poolbench.scenario import Point, expand, parse_scenario


def point(**sections: Any) -> Point:
    data: dict[str, Any] = {"name": "t"}
    data.update(sections)
    return expand(parse_scenario(data))[0]


def plan(p: Point, tmp_path: Path) -> Any:
    ports = itertools.count(20000)
    return plan_point(
        p,
        bootstrap_servers="127.0.0.1:9092",
        run_id="r1",
        sequence=3,
        workdir=tmp_path,
        private_dir=tmp_path / "private",
        reserve_port=lambda: next(ports),
        python="/usr/bin/python3",
    )


def test_names_are_unique_to_the_point_and_settings_are_typed(tmp_path: Path) -> None:
    p = point(consumer={"workers": 7, "buffer": 9, "retries": 2}, sink={"latency": "20ms"})
    result = plan(p, tmp_path)
    assert (result.topic, result.dlq, result.group) == (
        "email-queue-r1-3",
        "email-dlq-r1-3",
        "poolbench-r1-3",
    )
    assert result.mode is LoadMode.SATURATE
    assert result.mean_latency_s == pytest.approx(0.02)
    assert result.ideal_per_s == pytest.approx(350)
    (consumer,) = result.consumers
    settings = consumer.settings
    assert settings is not None
    assert (settings.workers, settings.buffer, settings.max_retries) == (7, 9, 2)
    assert (settings.kafka_topic, settings.kafka_group, settings.dlq_topic) == (
        result.topic,
        result.group,
        result.dlq,
    )
    assert settings.smtp_port == result.sink.port == 20000
    assert settings.metrics_port == consumer.metrics_port == 20001
    # The consumer gets its settings as a file, and nothing of the runner's environment.
    assert "--settings-file" in consumer.argv
    assert set(consumer.env) == {"PYTHONPATH"}
    assert consumer.log_path == tmp_path / "consumer-0.log"


def test_a_swept_start_gate_reaches_the_consumer(tmp_path: Path) -> None:
    for per_pass in (0, 4):
        (consumer,) = plan(point(consumer={"starts_per_pass": per_pass}), tmp_path).consumers
        assert consumer.settings is not None
        assert consumer.settings.starts_per_pass == per_pass


def test_consumer_env_is_validated_up_front(tmp_path: Path) -> None:
    p = point(consumer={"env": {"POOLBENCH_DEBUG_DELAY": "soon"}})
    with pytest.raises(ConfigError, match="POOLBENCH_DEBUG_DELAY"):
        plan(p, tmp_path)


def test_consumer_env_sets_settings(tmp_path: Path) -> None:
    p = point(consumer={"env": {"POOLBENCH_DEBUG_DELAY": "20ms"}})
    (consumer,) = plan(p, tmp_path).consumers
    assert consumer.settings is not None
    assert consumer.settings.debug_delay_s == pytest.approx(0.02)


def test_secret_env_values_are_collected_for_masking(tmp_path: Path) -> None:
    p = point(consumer={"env": {"SMTP_PASSWORD": "hunter2", "API_TOKEN": "t0k"}})
    assert set(plan(p, tmp_path).secrets) >= {"hunter2", "t0k"}


def test_a_foreign_consumer_keeps_its_command_and_env(tmp_path: Path) -> None:
    p = point(
        consumer={"command": "my-consumer --workers {workers} --port {smtp_port}", "workers": 4}
    )
    (consumer,) = plan(p, tmp_path).consumers
    assert consumer.settings is None
    assert consumer.argv == ("my-consumer", "--workers", "4", "--port", "20000")


def test_outages_count_from_the_load_start(tmp_path: Path) -> None:
    p = point(
        sink={"outages": [{"at": "2s", "duration": "1s"}]},
        load={"rate": "10/s", "duration": "5s", "warmup": "1s"},
    )
    (outage,) = plan(p, tmp_path).sink.outages
    assert (outage.start, outage.end) == (2 + SINK_LEAD_S, 3 + SINK_LEAD_S)


def test_a_looped_profile_covers_the_whole_load(tmp_path: Path) -> None:
    p = point(
        load={
            "rate": [{"rate": "10/s", "duration": "2s"}, {"rate": "30/s", "duration": "2s"}],
            "duration": "6s",
            "warmup": "1s",
        }
    )
    result = plan(p, tmp_path)
    # 7 s of load over a 4 s cycle: two cycles, so the 10/s step comes back at 4 s.
    spelled_out = parse_profile("steps:10/s:2s,30/s:2s,10/s:2s,30/s:2s")
    assert result.load.rate.segments == spelled_out.segments
    # Offered over the window [1 s, 7 s): 1 s at 10, 2 at 30, 2 at 10, 1 at 30 -> 20/s.
    assert offered_rate(p.scenario) == pytest.approx(20.0)


def test_sink_auth_reaches_the_sink_and_the_consumer_and_is_a_secret(tmp_path: Path) -> None:
    p = point(sink={"auth": {"user": "mailer", "password": "s3cr3t-pw"}})
    result = plan(p, tmp_path)
    assert result.sink.auth is not None
    assert (result.sink.auth.user, result.sink.auth.password) == ("mailer", "s3cr3t-pw")
    (consumer,) = result.consumers
    assert consumer.settings is not None
    assert (consumer.settings.smtp_user, consumer.settings.smtp_password) == (
        "mailer",
        "s3cr3t-pw",
    )
    assert "s3cr3t-pw" in result.secrets
    # The settings file (it holds the password) is kept out of the results folder.
    assert consumer.settings_path is not None
    assert consumer.settings_path.parent == tmp_path / "private"


def test_the_scenarios_allowance_for_retention_drops_reaches_the_point(tmp_path: Path) -> None:
    assert plan(point(allow={"retention_drops": 700}), tmp_path).allowed_drops == 700
    assert plan(point(), tmp_path).allowed_drops == 0
