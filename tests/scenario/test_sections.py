"""The scenario's consumer knobs are read by the consumer's own settings table."""

from __future__ import annotations

import pytest

from poolbench.consumer.settings import load_settings, spec_for
from poolbench.errors import ConfigError, ScenarioError
from poolbench.scenario import parse_scenario
from poolbench.scenario.model import SETTINGS_FIELDS

# A value each knob's settings parser accepts in a form other than the plain YAML type,
# and one it refuses.
_ACCEPTED = {
    "workers": "7",
    "buffer": "0",
    "connection_reuse": "off",
    "priority_lanes": "yes",
    "retries": "4",
    "retry_backoff_s": "250ms",
    "send_timeout_s": "2s",
    "starts_per_pass": "0",
}
_REFUSED = {
    "workers": 0,
    "buffer": -1,
    "connection_reuse": "maybe",
    "priority_lanes": 2,
    "retries": -1,
    "retry_backoff_s": "soon",
    "send_timeout_s": "0s",
    "starts_per_pass": -1,
}


def test_every_knob_has_a_case() -> None:
    assert set(_ACCEPTED) == set(_REFUSED) == set(SETTINGS_FIELDS)


@pytest.mark.parametrize("name", sorted(SETTINGS_FIELDS))
def test_a_knob_reads_what_the_consumer_reads(name: str) -> None:
    key = name.removesuffix("_s")
    value = _ACCEPTED[name]
    scenario = parse_scenario({"name": "t", "consumer": {key: value}})
    expected = spec_for(SETTINGS_FIELDS[name]).parse(value)
    assert getattr(scenario.consumer, name) == expected
    # ... and what `poolbench consume` would run with for the same value.
    settings = load_settings({SETTINGS_FIELDS[name]: value}, {})
    assert getattr(settings, SETTINGS_FIELDS[name]) == expected


@pytest.mark.parametrize("name", sorted(SETTINGS_FIELDS))
def test_a_knob_refuses_what_the_consumer_refuses(name: str) -> None:
    key = name.removesuffix("_s")
    value = _REFUSED[name]
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"name": "t", "consumer": {key: value}}, source="s.yaml")
    assert info.value.key == f"consumer.{key}"
    with pytest.raises(ConfigError) as consumer_error:
        spec_for(SETTINGS_FIELDS[name]).parse(value)
    assert str(consumer_error.value) in str(info.value)
