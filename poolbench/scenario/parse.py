"""YAML and dicts -> a validated `Scenario`; every error names the file and key path.

Accepts the file's form (`100ms`, `500/s`, `saturate`) and the canonical form that
`Scenario.to_dict` writes (seconds and per-second numbers), so a canonical dict can be
overridden by a sweep and parsed again.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from poolbench.errors import ScenarioError
from poolbench.scenario.load_section import read_load
from poolbench.scenario.model import Allow, Broker, Consumer, Load, Scenario, Sink, Sweep, Topic
from poolbench.scenario.reader import MISSING, Reader, join_key, show
from poolbench.scenario.sections import (
    read_allow,
    read_broker,
    read_consumer,
    read_gates,
    read_sink,
    read_sweep,
    read_topic,
)

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_KEYS: Final = (
    "name",
    "description",
    "broker",
    "topic",
    "sink",
    "consumer",
    "load",
    "sweep",
    "repeats",
    "gates",
    "allow",
)


# Checks every swept value as its point will be parsed (expand.sweep_errors). Handed in
# by the caller, because expanding a sweep parses each point with this module: importing
# expand here would make the two modules import each other.
SweepCheck = Callable[[Scenario], Sequence[ScenarioError]]


def load_scenario_file(path: Path | str, *, sweep_check: SweepCheck | None = None) -> Scenario:
    """Read and validate a scenario YAML file; with `sweep_check`, its swept values too,
    in the same listing."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise ScenarioError("no such scenario file", path=file) from exc
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", path=file) from exc
    try:
        lines, duplicates = key_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"not valid YAML{where}: {problem}", path=file) from exc
    return parse_scenario(
        data, source=file, lines=lines, known_errors=duplicates, sweep_check=sweep_check
    )


def key_lines(text: str) -> tuple[dict[str, int], list[tuple[str, int, int]]]:
    """The line of every key path in a YAML text (`load.rate`, `sink.outages[0].at`), and
    every duplicate key as (path, line, line of the first one): the YAML loader would
    silently keep the last."""
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int, int]] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                name = str(key_node.value)
                child = join_key(path, name)
                line = key_node.start_mark.line + 1
                if name in seen:
                    duplicates.append((child, line, seen[name]))
                    continue
                seen[name] = line
                lines[child] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = f"{path}[{i}]"
                lines.setdefault(child, item.start_mark.line + 1)
                walk(item, child)

    if root is not None:
        lines[""] = root.start_mark.line + 1
        walk(root, "")
    return lines, duplicates


def parse_scenario(
    data: Any,
    *,
    source: str = "",
    lines: Mapping[str, int] | None = None,
    known_errors: list[tuple[str, int, int]] | None = None,
    sweep_check: SweepCheck | None = None,
) -> Scenario:
    """Validate a decoded scenario (YAML or canonical dict).

    Every problem is found, not only the first: one raises a `ScenarioError`, several a
    `ScenarioErrors` listing them in file order (with `lines`, the line of each key path).
    """
    ctx = Reader(source, lines or {})
    for key, line, first in known_errors or ():
        ctx.errors.append(
            ScenarioError(f"duplicate key (first at line {first})", path=source, key=key, line=line)
        )
    if data is not None and not isinstance(data, dict):
        raise ctx.error(f"expected a mapping, got {show(data)}", "(top level)")
    top = ctx.mapping(data, "", _TOP_KEYS)
    name = top.get("name", MISSING)
    if name is MISSING:
        ctx.fail("missing; expected a string", "name")
        name = "invalid"
    elif not isinstance(name, str) or not _NAME.match(name):
        ctx.fail(
            f"expected letters, digits, '.', '_' or '-' (it names a folder), got {show(name)}",
            "name",
        )
        name = "invalid"
    scenario = Scenario(
        name=name,
        description=ctx.value(top, "description", str, "a string", default=""),
        broker=ctx.guard(read_broker, top.get("broker", "embedded"), Broker()),
        topic=ctx.guard(read_topic, top.get("topic"), Topic()),
        sink=ctx.guard(read_sink, top.get("sink"), Sink()),
        consumer=ctx.guard(read_consumer, top.get("consumer"), Consumer()),
        load=ctx.guard(read_load, top.get("load"), Load()),
        sweep=ctx.guard(read_sweep, top.get("sweep"), Sweep()),
        repeats=ctx.integer(top, "repeats", default=1, minimum=1),
        gates=ctx.guard(read_gates, top.get("gates"), ()),
        allow=ctx.guard(read_allow, top.get("allow"), Allow()),
        source=source,
        lines=dict(lines or {}),
    )
    known = sweep_paths(scenario.to_dict())
    unknown = False
    for path in scenario.sweep.paths:
        if path not in known:
            unknown = True
            hint = difflib.get_close_matches(path, known, n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            ctx.fail(f"unknown setting to sweep{also}", f"sweep.{path}")
    # Checks across sections, each only when the keys it reads are valid on their own
    # (the fallbacks of invalid ones would blame the wrong key).
    _cross_check(ctx, scenario, invalid={error.key for error in ctx.errors})
    if sweep_check is not None and scenario.sweep.axes and not unknown:
        _add_sweep_errors(ctx, sweep_check(scenario))
    ctx.raise_errors()
    return scenario


def _add_sweep_errors(ctx: Reader, errors: Sequence[ScenarioError]) -> None:
    """Every swept value's problem (`sweep.consumer.workers[2]`), in the same listing as
    the file's other problems."""
    said = {str(error) for error in ctx.errors}
    for error in errors:
        # A point's copy of a problem already listed at its own key is not a new one.
        if error.key.startswith("sweep.") and str(error) not in said:
            ctx.errors.append(error)


def _valid(invalid: set[str], *keys: str) -> bool:
    """None of `keys`, nor a key inside them or a section around them, has a problem."""
    for bad in invalid:
        for key in keys:
            if bad in ("", "(top level)") or bad == key:
                return False
            if bad.startswith((key + ".", key + "[")) or key.startswith(bad + "."):
                return False
    return True


def _cross_check(ctx: Reader, scenario: Scenario, *, invalid: set[str]) -> None:
    load = scenario.load
    for i, outage in enumerate(scenario.sink.outages):
        if not _valid(invalid, f"sink.outages[{i}]", "load"):
            continue
        if outage.at + outage.duration > load.total_s:
            ctx.fail(
                f"outage ends at {outage.at + outage.duration:g}s, after the load stops "
                f"(warmup {load.warmup_s:g}s + duration {load.duration_s:g}s)",
                f"sink.outages[{i}]",
            )
    if not _valid(invalid, "consumer.instances", "topic.partitions"):
        return
    if scenario.consumer.instances > scenario.topic.partitions:
        ctx.fail(
            f"{scenario.consumer.instances} instances but only {scenario.topic.partitions} "
            "partitions: the extra instances would sit idle",
            "consumer.instances",
        )


def sweep_paths(canonical: Mapping[str, Any]) -> list[str]:
    """Every dotted path a sweep may set: the leaves of the canonical form."""
    out: list[str] = []
    for section in ("broker", "topic", "sink", "consumer", "load"):
        for name, value in canonical[section].items():
            out.append(f"{section}.{name}")
            # Mappings of free names are swept whole (their names may contain dots).
            if isinstance(value, dict) and name not in ("env", "producer"):
                out.extend(f"{section}.{name}.{leaf}" for leaf in value)
    return out
