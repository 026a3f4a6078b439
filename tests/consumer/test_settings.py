from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolbench.consumer.settings import (
    README_BEGIN,
    README_END,
    SETTINGS,
    ConsumerSettings,
    dump_settings,
    load_settings,
    load_settings_json,
    markdown_table,
    spec_for,
)
from poolbench.errors import ConfigError


def test_defaults_are_the_seeds() -> None:
    settings = load_settings({}, {})
    assert settings == ConsumerSettings()
    assert (settings.workers, settings.buffer) == (10, 100)
    assert settings.kafka_brokers == "localhost:9093"
    assert settings.kafka_topic == "email-queue"
    assert settings.kafka_group == "messaging-service-group"
    assert settings.shutdown_timeout_s == 30.0
    assert settings.dlq_topic == "email-dlq"


def test_flag_beats_environment_beats_default() -> None:
    env = {"EMAIL_WORKER_COUNT": "20", "EMAIL_WORKER_BUFFER": "300", "SMTP_HOST": "mail.env"}
    settings = load_settings({"workers": 50, "buffer": None}, env)
    assert settings.workers == 50  # flag
    assert settings.buffer == 300  # environment, the flag was not given
    assert settings.smtp_host == "mail.env"
    assert settings.smtp_port == 2525  # default


def test_every_seed_variable_is_read() -> None:
    env = {
        "EMAIL_WORKER_COUNT": "3",
        "EMAIL_WORKER_BUFFER": "4",
        "SMTP_HOST": "smtp.example",
        "SMTP_PORT": "587",
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "p w",
        "KAFKA_BROKERS": "k1:9092,k2:9092",
        "KAFKA_TOPIC": "t",
        "KAFKA_GROUP_ID": "g",
    }
    s = load_settings({}, env)
    assert (s.workers, s.buffer, s.smtp_host, s.smtp_port) == (3, 4, "smtp.example", 587)
    assert (s.smtp_user, s.smtp_password) == ("u", "p w")
    assert (s.kafka_brokers, s.kafka_topic, s.kafka_group) == ("k1:9092,k2:9092", "t", "g")


def test_extra_knobs_from_environment_with_units() -> None:
    env = {
        "POOLBENCH_SMTP_SECURITY": "STARTTLS",
        "POOLBENCH_SMTP_VERIFY_TLS": "off",
        "POOLBENCH_CONNECTION_REUSE": "no",
        "POOLBENCH_SMTP_TIMEOUT": "250ms",
        "POOLBENCH_RETRY_BASE": "50ms",
        "POOLBENCH_RETRY_MAX": "2s",
        "POOLBENCH_BREAKER_COOLDOWN": "1.5s",
        "POOLBENCH_TEMPLATES_DIR": "/tmp/tpl",
        "POOLBENCH_DEBUG_DELAY": "5ms",
        "POOLBENCH_DEBUG_BURN": "250us",
    }
    s = load_settings({}, env)
    assert s.smtp_security == "starttls"
    assert s.smtp_verify_tls is False
    assert s.connection_reuse is False
    assert s.smtp_timeout_s == pytest.approx(0.25)
    assert s.retry_base_s == pytest.approx(0.05)
    assert s.retry_max_s == 2.0
    assert s.breaker_cooldown_s == 1.5
    assert s.templates_dir == Path("/tmp/tpl")
    assert s.debug_delay_s == pytest.approx(0.005)
    assert s.debug_burn_s == pytest.approx(0.00025)


def test_sequential_forces_one_worker() -> None:
    assert load_settings({"sequential": True, "workers": 10}, {}).workers == 1
    assert load_settings({}, {"POOLBENCH_SEQUENTIAL": "1", "EMAIL_WORKER_COUNT": "8"}).workers == 1


def test_password_is_not_in_repr() -> None:
    assert "hunter2" not in repr(load_settings({"smtp_password": "hunter2"}, {}))


def test_every_knob_has_a_flag_and_a_variable() -> None:
    names = {f for f in ConsumerSettings.__dataclass_fields__}
    assert {spec.field for spec in SETTINGS} == names
    assert len({spec.flag for spec in SETTINGS}) == len(SETTINGS)
    assert len({spec.env for spec in SETTINGS}) == len(SETTINGS)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (
            {},
            {"EMAIL_WORKER_COUNT": "ten"},
            "EMAIL_WORKER_COUNT: expected an integer >= 1, got 'ten'",
        ),
        ({"workers": 0}, {}, "--workers: expected an integer >= 1, got 0"),
        ({}, {"EMAIL_WORKER_BUFFER": "-1"}, "EMAIL_WORKER_BUFFER: expected an integer >= 0"),
        ({"buffer": "x"}, {}, "--buffer: expected an integer"),
        ({}, {"SMTP_PORT": "70000"}, "SMTP_PORT: expected an integer from 1 to 65535"),
        ({"smtp_port": True}, {}, "--smtp-port: expected an integer"),
        ({}, {"SMTP_HOST": "  "}, "SMTP_HOST: must not be empty"),
        ({}, {"KAFKA_BROKERS": ""}, "KAFKA_BROKERS: must not be empty"),
        ({"kafka_topic": ""}, {}, "--kafka-topic: must not be empty"),
        ({}, {"KAFKA_GROUP_ID": ""}, "KAFKA_GROUP_ID: must not be empty"),
        ({"smtp_user": 5}, {}, "--smtp-user: expected text"),
        ({}, {"POOLBENCH_SMTP_SECURITY": "ssl"}, "POOLBENCH_SMTP_SECURITY: expected one of"),
        ({"smtp_verify_tls": "maybe"}, {}, "--smtp-verify-tls: expected true or false"),
        ({}, {"POOLBENCH_CONNECTION_REUSE": "2"}, "POOLBENCH_CONNECTION_REUSE: expected true"),
        ({}, {"POOLBENCH_SMTP_TIMEOUT": "0s"}, "POOLBENCH_SMTP_TIMEOUT: must be positive"),
        ({"smtp_timeout_s": "fast"}, {}, "--smtp-timeout: expected a duration"),
        ({}, {"POOLBENCH_SHUTDOWN_TIMEOUT": "-1s"}, "POOLBENCH_SHUTDOWN_TIMEOUT"),
        ({}, {"POOLBENCH_MAX_RETRIES": "-2"}, "POOLBENCH_MAX_RETRIES: expected an integer >= 0"),
        ({"retry_base_s": "1 hour"}, {}, "--retry-base: expected a duration"),
        ({}, {"POOLBENCH_RETRY_MAX": "10ms"}, "POOLBENCH_RETRY_MAX: the largest backoff"),
        ({"retry_base_s": "10s"}, {}, "--retry-base: the largest backoff"),
        ({}, {"POOLBENCH_BREAKER_THRESHOLD": "0"}, "POOLBENCH_BREAKER_THRESHOLD: expected"),
        ({"breaker_cooldown_s": "soon"}, {}, "--breaker-cooldown: expected a duration"),
        ({}, {"POOLBENCH_DLQ_TOPIC": ""}, "POOLBENCH_DLQ_TOPIC: must not be empty"),
        ({"metrics_port": -1}, {}, "--metrics-port: expected an integer from 0 to 65535"),
        ({}, {"POOLBENCH_COMMIT_INTERVAL": "0"}, "POOLBENCH_COMMIT_INTERVAL: must be positive"),
        ({"sequential": "sometimes"}, {}, "--sequential: expected true or false"),
        ({"templates_dir": 3}, {}, "--templates-dir: expected a folder path"),
        ({}, {"POOLBENCH_DEBUG_DELAY": "later"}, "POOLBENCH_DEBUG_DELAY: expected a duration"),
        ({"colour": "blue"}, {}, "unknown consumer setting(s): colour"),
    ],
)
def test_bad_values_name_their_source(
    flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, env)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_good_flag_hides_a_bad_variable() -> None:
    assert load_settings({"workers": 4}, {"EMAIL_WORKER_COUNT": "ten"}).workers == 4


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    begin = readme.index(README_BEGIN)
    end = readme.index(README_END) + len(README_END)
    # On failure: paste poolbench.consumer.settings.markdown_table() between the markers.
    assert readme[begin:end] == markdown_table()


def test_the_table_has_one_row_per_knob_with_its_default() -> None:
    table = markdown_table()
    for spec in SETTINGS:
        row = next(line for line in table.splitlines() if f"`{spec.env}`" in line)
        assert row.startswith(f"| `{spec.flag} "), row
        assert f"`{spec.default_text}`" in row, row
    assert spec_for("smtp_timeout_s").default_text == "10s"
    assert spec_for("connection_reuse").default_text == "on"
    assert spec_for("retry_base_s").default_text == "100ms"


def test_settings_survive_json_unchanged() -> None:
    settings = load_settings(
        {"workers": "7", "smtp_password": "hunter2", "templates_dir": "/tmp/tpl"},
        {"POOLBENCH_RETRY_BASE": "250ms", "POOLBENCH_CONNECTION_REUSE": "off"},
    )
    text = dump_settings(settings)
    assert load_settings_json(text) == settings
    assert json.loads(text)["retry_base_s"] == 0.25
    assert json.loads(text)["templates_dir"] == "/tmp/tpl"


def test_json_settings_fill_in_defaults_and_ignore_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMAIL_WORKER_COUNT", "99")
    settings = load_settings_json('{"buffer": 0, "sequential": true}')
    assert settings == ConsumerSettings(buffer=0, sequential=True, workers=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"smtp_port": 0}', "smtp_port: expected an integer from 1 to 65535, got 0"),
        ('{"smtp_timeout_s": "soon"}', "smtp_timeout_s: expected a duration"),
        ('{"connection_reuse": "sometimes"}', "connection_reuse: expected true or false"),
        ('{"retry_base_s": 2, "retry_max_s": 1}', "retry_max_s: the largest backoff"),
        ('{"colour": "blue"}', "unknown consumer setting(s): colour"),
        ("[1, 2]", "expected a JSON object of consumer settings"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_json_settings_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings_json(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_errors_are_structured_not_just_text() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"EMAIL_WORKER_COUNT": "ten"})
    error = caught.value
    assert (error.what, error.where, error.got) == ("workers", "EMAIL_WORKER_COUNT", "ten")
    assert error.expected == "an integer >= 1"
    # The same error at another place (a key path) reads naturally there.
    assert str(error.at("consumer.workers")) == (
        "consumer.workers: expected an integer >= 1, got 'ten'"
    )


def test_the_default_breaker_opens_before_a_lone_emails_retries_run_out() -> None:
    # A lone email failing in an outage spends a retry on each failure until the breaker
    # opens; with threshold <= retries + 1 it still has one left and waits for the breaker.
    defaults = ConsumerSettings()
    assert defaults.breaker_threshold <= defaults.max_retries + 1
