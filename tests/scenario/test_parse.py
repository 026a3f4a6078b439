from pathlib import Path
from typing import Any

import pytest

from poolbench.consumer.settings import ConsumerSettings, load_settings
from poolbench.errors import ScenarioError, ScenarioErrors, UserError
from poolbench.scenario import load_scenario, parse_scenario
from poolbench.scenario.parse import load_scenario_file

MINIMAL: dict[str, Any] = {"name": "t"}


def _scenario(**sections: Any) -> dict[str, Any]:
    return {"name": "t", **sections}


def test_defaults_fill_every_key() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.broker.embedded
    assert scenario.topic.name == "email-queue"
    assert scenario.topic.dlq == "email-dlq"
    assert scenario.consumer.workers == 10
    assert scenario.consumer.buffer == 100
    assert scenario.load.saturate
    assert scenario.load.duration_s == 20.0
    assert scenario.sink.latency == "0ms"
    assert scenario.repeats == 1


def test_file_form_is_parsed_into_seconds_and_rates(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(
        "name: s\n"
        "broker: {bootstrap_servers: 'kafka:9092'}\n"
        "sink: {latency: 100ms, rate_limit: 600/min, outages: [{at: 2s, duration: 500ms}]}\n"
        "consumer: {workers: 3, retry_backoff: 250ms}\n"
        "load: {rate: 500/s, duration: 1m, warmup: 0}\n"
    )
    scenario = load_scenario(file)
    assert scenario.broker.bootstrap_servers == "kafka:9092"
    assert not scenario.broker.embedded
    assert scenario.sink.latency == "100ms"  # passed through for the sink to parse
    assert scenario.sink.rate_limit_per_s == pytest.approx(10.0)
    assert scenario.sink.outages[0].duration == pytest.approx(0.5)
    assert scenario.consumer.retry_backoff_s == pytest.approx(0.25)
    assert scenario.load.rate_per_s == 500.0
    assert scenario.load.duration_s == 60.0
    assert scenario.source == str(file)


def test_rate_profile() -> None:
    scenario = parse_scenario(
        _scenario(load={"rate": [{"rate": "10/s", "duration": "2s"}, {"rate": 50, "duration": 1}]})
    )
    assert [s.rate_per_s for s in scenario.load.profile] == [10.0, 50.0]
    assert not scenario.load.saturate


def test_canonical_form_round_trips_and_hash_ignores_spelling() -> None:
    a = parse_scenario(_scenario(load={"rate": "500/s", "duration": "2s", "warmup": "500ms"}))
    b = parse_scenario(_scenario(load={"rate": 500, "duration": 2, "warmup": 0.5}))
    assert a.scenario_hash == b.scenario_hash
    assert parse_scenario(a.to_dict()) == a
    c = parse_scenario(_scenario(load={"rate": 501, "duration": 2, "warmup": 0.5}))
    assert c.scenario_hash != a.scenario_hash
    assert len(a.scenario_hash) == 64


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        (_scenario(consumer={"wrokers": 5}), "consumer.wrokers", "did you mean 'workers'"),
        (_scenario(extra=1), "extra", "unknown key"),
        (_scenario(sink={"faults": {"transient": 0.1, "flaky": 1}}), "sink.faults.flaky", "unk"),
        (_scenario(consumer={"workers": "ten"}), "consumer.workers", "expected an integer"),
        (_scenario(consumer={"workers": True}), "consumer.workers", "expected an integer"),
        (_scenario(consumer={"workers": 0}), "consumer.workers", "an integer >= 1, got 0"),
        (_scenario(consumer={"buffer": -1}), "consumer.buffer", "an integer >= 0, got -1"),
        (_scenario(load={"duration": "soon"}), "load.duration", "expected a duration"),
        (_scenario(load={"duration": "0s"}), "load.duration", "must be positive"),
        (_scenario(load={"rate": "fast"}), "load.rate", "expected a rate"),
        (_scenario(load={"rate": "0/s"}), "load.rate", "must be positive"),
        (_scenario(load={"rate": []}), "load.rate", "at least one"),
        (_scenario(load={"poison": 1.0}), "load.poison", "between 0 and 1 (excluded)"),
        (_scenario(sink={"faults": {"transient": 1.5}}), "sink.faults.transient", "between 0"),
        (
            _scenario(sink={"faults": {"transient": 0.6, "permanent": 0.6}}),
            "sink.faults",
            "must not exceed 1",
        ),
        (_scenario(sink={"latency": ""}), "sink.latency", "expected a latency"),
        (_scenario(sink={"latency": "gauss:1ms"}), "sink.latency", "gauss"),
        (_scenario(sink={"latency": "uniform:9ms..1ms"}), "sink.latency", "uniform"),
        (_scenario(sink={"processes": 65}), "sink.processes", "1..64"),
        (
            _scenario(sink={"processes": 4, "max_connections": 2}),
            "sink.max_connections",
            "number of processes",
        ),
        (
            _scenario(sink={"outages": [{"at": "30s", "duration": "2s"}]}),
            "sink.outages[0]",
            "after the load stops",
        ),
        (_scenario(sink={"outages": [{"at": "1s"}]}), "sink.outages[0].duration", "duration"),
        (_scenario(broker="kafka:9092"), "broker", "expected 'embedded'"),
        (_scenario(topic={"dlq": "email-queue"}), "topic.dlq", "must differ"),
        (
            _scenario(topic={"partitions": 2}, consumer={"instances": 3}),
            "consumer.instances",
            "sit idle",
        ),
        (_scenario(consumer={"command": "./svc -w {wrk}"}), "consumer.command", "placeholder"),
        (_scenario(sweep={"mode": "cross"}), "sweep.mode", "'zip' or 'grid'"),
        (_scenario(sweep={"consumer.workers": []}), "sweep.consumer.workers", "non-empty list"),
        (_scenario(gates=["p99_ms < 5", "open('x') == 1"]), "gates[1]", "function calls"),
        (_scenario(gates=["latency < 5"]), "gates[0]", "unknown name 'latency'"),
        (_scenario(repeats=0), "repeats", "at least 1"),
        (_scenario(allow={"retention_drops": -1}), "allow.retention_drops", "at least 0"),
        (_scenario(allow={"retention_drop": 5}), "allow.retention_drop", "retention_drops"),
        ({"description": "x"}, "name", "missing"),
        (_scenario(name="a/b"), "name", "names a folder"),
        ([1, 2], "(top level)", "expected a mapping"),
    ],
)
def test_rejects_with_key_path(data: Any, key: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="s.yaml")
    assert info.value.key == key
    assert info.value.path == "s.yaml"
    assert message in str(info.value)
    assert str(info.value).startswith(f"s.yaml:{key}: ")
    assert isinstance(info.value, UserError)
    # A library's error shows at the key path only: no flag and no repeated key.
    detail = str(info.value).removeprefix(f"s.yaml:{key}: ")
    assert "--" not in detail and f"{key}:" not in detail, str(info.value)


def test_a_bad_value_keeps_what_was_expected_and_what_was_given() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_scenario(load={"duration": "soon"}), source="s.yaml")
    error = info.value
    assert (error.key, error.expected, error.got) == (
        "load.duration",
        "a duration like '100ms' or '2s'",
        "soon",
    )
    assert (
        str(error) == "s.yaml:load.duration: expected a duration like '100ms' or '2s', got 'soon'"
    )


def test_the_consumer_defaults_are_the_consumers_own() -> None:
    consumer = parse_scenario(_scenario()).consumer
    assert consumer.connection_reuse is True
    assert load_settings(consumer.settings_values(), {}) == ConsumerSettings()


def test_a_consumer_section_becomes_the_consumers_settings() -> None:
    section = {"workers": 3, "buffer": 0, "connection_reuse": False, "retries": 1}
    consumer = parse_scenario(_scenario(consumer={**section, "retry_backoff": "250ms"})).consumer
    settings = load_settings(consumer.settings_values(), {"EMAIL_WORKER_COUNT": "99"})
    assert (settings.workers, settings.buffer, settings.max_retries) == (3, 0, 1)
    assert settings.connection_reuse is False
    assert settings.retry_base_s == 0.25


@pytest.mark.parametrize("name", ["seed-table", "low", "medium", "high"])
def test_the_seed_scenarios_say_connection_per_email(name: str) -> None:
    scenario = load_scenario_file(
        Path(__file__).resolve().parents[2] / "scenarios" / f"{name}.yaml"
    )
    assert scenario.consumer.connection_reuse is False


def test_foreign_consumer_with_placeholders() -> None:
    scenario = parse_scenario(
        _scenario(
            consumer={
                "command": "./messaging-service -workers {workers} -buffer {buffer}",
                "env": {"KAFKA_BROKERS": "{bootstrap}", "SMTP_PORT": "{smtp_port}"},
            }
        )
    )
    assert scenario.consumer.foreign
    assert scenario.consumer.env["KAFKA_BROKERS"] == "{bootstrap}"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nconsumer: {workers: [1\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: not valid YAML at line \d"):
        load_scenario_file(bad)


def test_sink_latency_is_stored_canonically() -> None:
    a = parse_scenario(_scenario(sink={"latency": "100ms"}))
    b = parse_scenario(_scenario(sink={"latency": "0.1s"}))
    c = parse_scenario(_scenario(sink={"latency": 0.1}))
    assert a.sink.latency == b.sink.latency == c.sink.latency == "100ms"
    assert a.to_dict() == b.to_dict()


def test_duplicate_key_is_an_error_with_both_lines(tmp_path: Path) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text("name: dup\nload:\n  rate: 10/s\n  duration: 5s\n  rate: 20/s\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(file)
    assert (info.value.key, info.value.line) == ("load.rate", 5)
    assert str(info.value) == f"{file}:5: load.rate: duplicate key (first at line 3)"


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    file = tmp_path / "many.yaml"
    file.write_text(
        "name: many\nload:\n  duration: never\n  warmup: x\nconsumer:\n  workers: 0\n"
        "topic:\n  partitions: 0\n"
    )
    with pytest.raises(ScenarioErrors) as info:
        load_scenario_file(file)
    found = [(e.line, e.key) for e in info.value.errors]
    assert found == [
        (3, "load.duration"),
        (4, "load.warmup"),
        (6, "consumer.workers"),
        (8, "topic.partitions"),
    ]
    assert str(info.value).splitlines()[0] == f"{file}: 4 problems"


def test_a_missing_key_points_at_its_section_line(tmp_path: Path) -> None:
    file = tmp_path / "missing.yaml"
    file.write_text("name: m\nsink:\n  outages:\n    - at: 1s\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(file)
    assert (info.value.key, info.value.line) == ("sink.outages[0].duration", 4)


def test_every_problem_comes_in_one_listing_cross_checks_and_sweep_values_too(
    tmp_path: Path,
) -> None:
    """The issue's file took three rounds of `validate`: one listing now."""
    file = tmp_path / "bad.yaml"
    file.write_text(
        "name: bad\n"
        "topic: {partitions: 4}\n"
        "consumer: {workers: 5, instances: 16}\n"
        "load: {rate: 100/s, duration: 5s, warmupp: 1s}\n"
        "sweep:\n"
        "  consumer.workers: [1, 2, 0]\n"
        "gates:\n"
        "  - ofered >= 10\n"
    )
    with pytest.raises(ScenarioErrors) as caught:
        load_scenario(file)
    said = [(e.line, e.key, e.message) for e in caught.value.errors]
    assert said == [
        (
            3,
            "consumer.instances",
            "16 instances but only 4 partitions: the extra instances would sit idle",
        ),
        (4, "load.warmupp", "unknown key (did you mean 'warmup'?)"),
        (6, "sweep.consumer.workers[2]", "expected an integer >= 1, got 0"),
        (8, "gates[0]", "gate 'ofered >= 10': unknown name 'ofered' (did you mean 'offered'?)"),
    ]


def test_a_cross_check_waits_for_its_own_keys_only(tmp_path: Path) -> None:
    # consumer.instances itself is invalid: no cross-check blames its fallback value.
    with pytest.raises(ScenarioErrors) as caught:
        parse_scenario(
            {
                "name": "x",
                "topic": {"partitions": 1},
                "consumer": {"instances": 0},
                "load": {"rate": "1/s", "duraton": "1s"},
            }
        )
    assert [e.key for e in caught.value.errors] == ["consumer.instances", "load.duraton"]


def test_an_allowance_for_retention_drops_is_read() -> None:
    scenario = parse_scenario(_scenario(allow={"retention_drops": 5000}))
    assert scenario.allow.retention_drops == 5000
    assert parse_scenario(_scenario()).allow.retention_drops == 0


def test_a_scenario_that_allows_no_retention_drops_keeps_its_hash() -> None:
    """The hash of a scenario written before `allow.retention_drops` existed stays what it
    was (sha256 of its canonical JSON then), so its baselines still compare."""
    import hashlib
    import json

    scenario = parse_scenario(_scenario(allow={"lost": 3}))
    doc = scenario.to_dict()
    doc["allow"] = {"lost": 3, "duplicates": 0}
    for key in ("compression", "producer", "priorities"):
        del doc["load"][key]
    del doc["consumer"]["priority_lanes"]
    before = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    assert scenario.scenario_hash == hashlib.sha256(before.encode()).hexdigest()
    assert parse_scenario(_scenario(allow={"lost": 3, "retention_drops": 1})).scenario_hash != (
        scenario.scenario_hash
    )


def test_starts_per_pass_is_in_the_hash_only_when_it_is_not_the_default() -> None:
    """A scenario written before `consumer.starts_per_pass` existed keeps its hash."""
    plain = parse_scenario(_scenario())
    assert "starts_per_pass" not in plain.to_dict()["consumer"]
    stated = parse_scenario(_scenario(consumer={"starts_per_pass": 1}))
    assert stated.scenario_hash == plain.scenario_hash
    off = parse_scenario(_scenario(consumer={"starts_per_pass": 0}))
    assert off.consumer.starts_per_pass == 0
    assert off.to_dict()["consumer"]["starts_per_pass"] == 0
    assert off.scenario_hash != plain.scenario_hash
