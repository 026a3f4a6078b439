from __future__ import annotations

from pathlib import Path

import pytest

from poolbench.errors import ConfigError
from poolbench.sink import Auth, SinkConfig, parse_latency


@pytest.mark.parametrize(
    ("fields", "what", "flag"),
    [
        ({"port": 70000}, "port", "--port"),
        ({"tls": "ssl"}, "tls", "--tls"),
        ({"processes": 0}, "processes", "--processes"),
        ({"processes": 2, "max_connections": 1}, "max_connections", "--max-connections"),
        ({"command_latency": {"HELO": parse_latency("1ms")}}, "command_latency", "--latency-at"),
    ],
)
def test_bad_settings_name_their_field_and_the_cli_its_flag(
    fields: dict[str, object], what: str, flag: str
) -> None:
    from poolbench.cli.edge import fields as located_at
    from poolbench.cli.sink import sink_flags

    with pytest.raises(ConfigError) as caught:
        SinkConfig(**fields)  # type: ignore[arg-type]
    assert caught.value.what == what
    assert "--" not in str(caught.value)  # the library names no flag
    with pytest.raises(ConfigError) as located, located_at(sink_flags()):
        SinkConfig(**fields)  # type: ignore[arg-type]
    assert str(located.value) == f"{flag}: {caught.value.detail}"


def test_latency_applies_to_data_unless_a_step_says_otherwise() -> None:
    config = SinkConfig(
        latency=parse_latency("100ms"),
        command_latency={"mail": parse_latency("5ms"), "greeting": parse_latency("0")},
    )
    assert config.latency_for("DATA") == parse_latency("100ms")
    assert config.latency_for("MAIL") == parse_latency("5ms")
    assert config.latency_for("RCPT") is None
    assert config.latency_for("greeting") is None  # zero delay costs nothing
    override = SinkConfig(
        latency=parse_latency("100ms"), command_latency={"DATA": parse_latency("1ms")}
    )
    assert override.latency_for("DATA") == parse_latency("1ms")


def test_record_path_becomes_a_path_and_children_flag() -> None:
    config = SinkConfig(record_path="x.jsonl", processes=2)  # type: ignore[arg-type]
    assert config.record_path == Path("x.jsonl")
    assert config.in_child_processes
    assert not SinkConfig().in_child_processes
    assert SinkConfig(isolated=True).in_child_processes


def test_auth_parse() -> None:
    assert Auth.parse("user:pa:ss") == Auth(user="user", password="pa:ss")
    for bad in ("user", ":pass", "user:"):
        with pytest.raises(ConfigError, match="USER:PASSWORD") as caught:
            Auth.parse(bad)
        assert caught.value.what == "auth"


def test_engine_defaults_to_fast_and_is_validated() -> None:
    from poolbench.scenario.parse import parse_scenario
    from poolbench.sink.options import build_config

    assert SinkConfig().engine == "fast"
    assert build_config(engine="aiosmtpd").engine == "aiosmtpd"
    with pytest.raises(ConfigError, match="one of fast, aiosmtpd, got 'postfix'") as caught:
        build_config(engine="postfix")
    assert caught.value.what == "engine"
    base = {"name": "e", "sink": {"engine": "aiosmtpd"}}
    assert parse_scenario(base).sink.engine == "aiosmtpd"
    assert parse_scenario({"name": "e"}).sink.to_dict().get("engine") is None
    with pytest.raises(ConfigError, match=r"sink\.engine"):
        parse_scenario({"name": "e", "sink": {"engine": "postfix"}})
