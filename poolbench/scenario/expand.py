"""A scenario's sweep -> the points to run, each a fully resolved scenario.

A sweep sets settings by dotted path (`consumer.workers`); `zip` pairs the lists in
order, `grid` takes every combination. Each point's scenario is the canonical form with
its values written in and validated again, so a bad swept value is reported as
`sweep.consumer.workers[2]` before anything starts.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from poolbench.errors import ScenarioError, ScenarioErrors
from poolbench.scenario.model import Scenario
from poolbench.scenario.parse import parse_scenario, sweep_paths
from poolbench.scenario.reader import raise_all


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One run: sweep combination `index`, repeat `repeat`, values `params` by path."""

    index: int
    repeat: int
    params: Mapping[str, Any]
    scenario: Scenario

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def label(self) -> str:
        """`consumer.workers=5 consumer.buffer=50` (plus the repeat when there are several)."""
        text = " ".join(f"{path}={value}" for path, value in self.params.items()) or "default"
        if self.scenario.repeats > 1:
            text += f" (repeat {self.repeat + 1}/{self.scenario.repeats})"
        return text


def expand(scenario: Scenario) -> list[Point]:
    """Every point and repeat, repeats outermost.

    Repeats go round the whole sweep rather than back to back, so slow drift on a shared
    machine spreads over all points instead of biasing one.
    """
    canonical = scenario.to_dict()
    known = sweep_paths(canonical)
    errors: list[ScenarioError] = []
    for path in scenario.sweep.paths:
        if path not in known:
            hint = difflib.get_close_matches(path, known, n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            errors.append(_at(scenario, f"unknown setting to sweep{also}", f"sweep.{path}"))
    raise_all(errors, path=scenario.source)
    resolved = []
    for index, (params, positions) in enumerate(_combinations(scenario)):
        try:
            resolved.append((index, params, _resolve(scenario, canonical, params, positions)))
        except ScenarioErrors as exc:
            errors.extend(exc.errors)
        except ScenarioError as exc:
            errors.append(exc)
    # The same bad value in several points is one problem.
    unique = list({str(error): error for error in errors}.values())
    raise_all(unique, path=scenario.source)
    return [
        Point(index=index, repeat=repeat, params=params, scenario=point_scenario)
        for repeat in range(scenario.repeats)
        for index, params, point_scenario in resolved
    ]


def sweep_errors(scenario: Scenario) -> list[ScenarioError]:
    """Every problem of the swept values, as `expand` would raise them (none: [])."""
    try:
        expand(scenario)
    except ScenarioErrors as exc:
        return list(exc.errors)
    except ScenarioError as exc:
        return [exc]
    return []


def _combinations(scenario: Scenario) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """(values by path, position of each value in its list) for every combination."""
    axes = scenario.sweep.axes
    if not axes:
        return [({}, {})]
    if scenario.sweep.mode == "zip":
        index_rows: list[tuple[int, ...]] = [tuple(i for _ in axes) for i in range(len(axes[0][1]))]
    else:
        index_rows = list(itertools.product(*(range(len(values)) for _, values in axes)))
    return [
        (
            {path: values[i] for (path, values), i in zip(axes, row, strict=True)},
            {path: i for (path, _), i in zip(axes, row, strict=True)},
        )
        for row in index_rows
    ]


def _resolve(
    scenario: Scenario,
    canonical: dict[str, Any],
    params: dict[str, Any],
    positions: dict[str, int],
) -> Scenario:
    data = _deep_copy(canonical)
    data["sweep"] = None
    for path, value in params.items():
        _set_path(data, path, value)
    try:
        return parse_scenario(data, source=scenario.source, lines=scenario.lines)
    except ScenarioErrors as exc:
        blamed = [_blame(scenario, error, params, positions) for error in exc.errors]
        raise ScenarioErrors(blamed, path=scenario.source) from exc
    except ScenarioError as exc:
        raise _blame(scenario, exc, params, positions) from exc


def _blame(
    scenario: Scenario,
    exc: ScenarioError,
    params: dict[str, Any],
    positions: dict[str, int],
) -> ScenarioError:
    """Name the swept value that made a point invalid: `sweep.consumer.workers[2]`."""
    for path in params:
        if exc.key == path or exc.key.startswith(f"{path}.") or path.startswith(f"{exc.key}."):
            message = exc.message if exc.key == path else f"{exc.key}: {exc.message}"
            return _at(scenario, message, f"sweep.{path}[{positions[path]}]")
    shown = ", ".join(f"{path}={value!r}" for path, value in params.items())
    return _at(scenario, f"at the point {shown}: {exc.key}: {exc.message}", "sweep")


def _at(scenario: Scenario, message: str, key: str) -> ScenarioError:
    """A `ScenarioError` at `key`, with its line in the scenario's file when known."""
    lines = scenario.lines
    path = key
    while path and path not in lines:
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    line = lines.get(path) if lines else None
    return ScenarioError(message, path=scenario.source, key=key, line=line)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = _deep_copy(value)
