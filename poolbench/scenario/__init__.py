"""Scenario files: YAML -> a validated, frozen model -> the points of its sweep.

scenario = load_scenario("scenarios/quick.yaml")   # ScenarioError on any problem
scenario = load_scenario("quick")                   # a scenario shipped with poolbench
for point in expand(scenario): ...                  # point.params, point.scenario
"""

from __future__ import annotations

from pathlib import Path

from poolbench.scenario.expand import Point, expand, sweep_errors
from poolbench.scenario.kafka import effective_compression, load_profile, retention_warning
from poolbench.scenario.model import (
    Broker,
    Consumer,
    Faults,
    Load,
    Outage,
    RateStep,
    Scenario,
    Sink,
    Sweep,
    Topic,
)
from poolbench.scenario.parse import load_scenario_file, parse_scenario
from poolbench.scenario.shipped import resolve_scenario, shipped_files


def load_scenario(path: Path | str) -> Scenario:
    """Read a scenario file and check it completely, every sweep point included. A bare
    name that is no file (`quick`) is a shipped scenario (shipped.py)."""
    return load_scenario_file(resolve_scenario(path), sweep_check=sweep_errors)


__all__ = [
    "Broker",
    "Consumer",
    "Faults",
    "Load",
    "Outage",
    "Point",
    "RateStep",
    "Scenario",
    "Sink",
    "Sweep",
    "Topic",
    "effective_compression",
    "expand",
    "load_profile",
    "load_scenario",
    "parse_scenario",
    "resolve_scenario",
    "retention_warning",
    "shipped_files",
]
