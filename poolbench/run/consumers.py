"""The consumer processes of one point: start them, wait until they consume, watch them
during the load, stop them, and read what they reported (summaries, effective settings).

`point.run_point` calls these in its start, load, stop and collect phases.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from poolbench.consumer.settings import ConsumerSettings, dump_settings
from poolbench.errors import BrokerError, RunError
from poolbench.orphans import guard_path
from poolbench.redact import redact_mapping
from poolbench.run.plan import ConsumerPlan, PointPlan
from poolbench.run.processes import ChildProcess, ProcessSet, ProcessSpec
from poolbench.run.sampler import Sampler

# A foreign consumer gives no readiness line: wait this long before the load, then it
# must deliver its first email within NOT_CONSUMING_S of the load's start.
FOREIGN_SETTLE_S: Final = 3.0
NOT_CONSUMING_S: Final = 20.0
# Starts the error of a consumer that received nothing (the drain is skipped for it).
NOT_CONSUMING_MARK: Final = "nothing consumed: "


def settings_text(settings: ConsumerSettings, fields: frozenset[str] | None) -> str:
    text = dump_settings(settings)
    if fields is None:
        return text
    doc = json.loads(text)
    return json.dumps({k: v for k, v in doc.items() if k in fields}, sort_keys=True)


def start_consumers(
    plan: PointPlan,
    processes: ProcessSet,
    sampler: Sampler,
    *,
    extra_env: Mapping[str, str],
    consumer_fields: frozenset[str] | None,
) -> list[ChildProcess]:
    children = []
    for consumer in plan.consumers:
        if consumer.settings is not None and consumer.settings_path is not None:
            write_private(consumer.settings_path, settings_text(consumer.settings, consumer_fields))
        child = processes.start(
            ProcessSpec(
                name=consumer.name,
                argv=consumer.argv,
                env={**consumer.env, **extra_env},
                ready_pattern=consumer.ready_pattern,
                clean_env=True,
                log_path=consumer.log_path,
                secrets=plan.secrets,
            )
        )
        sampler.watch("consumer", child.pid)
        if consumer.metrics_port is not None:
            sampler.scrape(f"http://127.0.0.1:{consumer.metrics_port}/metrics")
        children.append(child)
    return children


def write_private(path: Path, text: str) -> None:
    """A file that may hold the SMTP password: a new file readable by this user only,
    in a folder only this user can enter, removed by the watchdog should the runner die
    before it does (`poolbench.orphans`)."""
    os.chmod(path.parent, 0o700)
    guard_path(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def wait_ready(
    consumers: list[ChildProcess],
    plan: PointPlan,
    *,
    ready_timeout_s: float,
    stop: threading.Event,
) -> None:
    foreign = [c for c, p in zip(consumers, plan.consumers, strict=True) if p.settings is None]
    if foreign:
        deadline = time.monotonic() + FOREIGN_SETTLE_S
        while time.monotonic() < deadline and not stop.is_set():
            for child in foreign:
                if not child.running:
                    raise RunError(
                        f"{child.spec.name} exited with code {child.returncode} at start; "
                        f"its last lines:\n{child.output_tail()}"
                    )
            time.sleep(0.1)
    for child, consumer in zip(consumers, plan.consumers, strict=True):
        if child not in foreign:
            child.wait_ready(ready_timeout_s, stop=stop)
        if consumer.settings_path is not None:
            # Read at start: a secret on disk no longer than the consumer needs it.
            consumer.settings_path.unlink(missing_ok=True)


# Lines of a consumer's own output that name why it receives nothing: about its topic
# first, else any error.
_COMPLAINTS = (
    re.compile(r"not available|unknown[ _]topic|does not exist|not authorized", re.IGNORECASE),
    re.compile(r"error|exception|fail", re.IGNORECASE),
)


def complaint(output: str) -> str | None:
    """The first line of a consumer's output that says what is wrong, if one does."""
    for pattern in _COMPLAINTS:
        for line in output.splitlines():
            if pattern.search(line):
                return line.strip()[:300]
    return None


def not_consuming_error(
    *, group: str, topic: str, joined: frozenset[str] | None, known: bool, output: str
) -> str:
    """Pure: why a foreign consumer received nothing, from what the broker saw of its
    group (`known`: the embedded broker's relays watched the joins), with its own complaint."""
    subscribe = (
        f"group {group} has no member on topic {topic} "
        "(does the consumer subscribe to `{topic}`?)"
    )
    if known and joined is None:
        head = f"{subscribe}: no consumer joined group {group} (does it use `{{group}}`?)"
    elif known and joined is not None and topic not in joined:
        head = f"{subscribe}: its members subscribed to {', '.join(sorted(joined)) or 'nothing'}"
    else:
        head = (
            f"not consuming: no email reached the sink within {NOT_CONSUMING_S:g}s of the "
            f"load's start"
            + ("" if known else " (does the consumer subscribe to `{topic}` in `{group}`?)")
        )
    said = complaint(output)
    return head + (f"; the consumer said: {said}" if said else "")


def not_consuming(
    plan: PointPlan,
    consumers: list[ChildProcess],
    load_started: float | None,
    delivered: int,
    errors: list[str],
    *,
    joined_topics: Callable[[str], frozenset[str] | None] | None = None,
) -> bool:
    """A foreign consumer (no readiness line) that delivered nothing `NOT_CONSUMING_S`
    into the load is reported, with what its group joined for (when the broker can say)
    and its last lines, and the load is cut short."""
    started = load_started
    if delivered or started is None or all(c.settings is not None for c in plan.consumers):
        return False
    if time.monotonic() - started < NOT_CONSUMING_S:
        return False
    if any(e.startswith(NOT_CONSUMING_MARK) for e in errors):
        return False
    joined: frozenset[str] | None = None
    known = False
    if joined_topics is not None:
        try:
            joined, known = joined_topics(plan.group), True
        except (BrokerError, RuntimeError):
            known = False
    output = "\n".join(c.output_tail(50) for c in consumers)
    tails = "\n".join(f"{c.spec.name}:\n{c.output_tail(10)}" for c in consumers)
    reason = not_consuming_error(
        group=plan.group, topic=plan.topic, joined=joined, known=known, output=output
    )
    errors.append(f"{NOT_CONSUMING_MARK}{reason}; the consumers' last lines:\n{tails}")
    return True


def dead_consumers(consumers: Sequence[ChildProcess], errors: list[str], phase: str) -> None:
    for child in consumers:
        if not child.running and not any(child.spec.name in e for e in errors):
            errors.append(
                f"{child.spec.name} exited with code {child.returncode} during the {phase}; "
                f"its last lines:\n{child.output_tail(10)}"
            )


def stop_consumers(
    consumers: list[ChildProcess], sampler: Sampler, grace_s: float, errors: list[str]
) -> None:
    sampler.read_hwm_now()
    for child in consumers:
        code = child.stop(grace_s)
        if code not in (0, None, -15) and not any(child.spec.name in e for e in errors):
            errors.append(
                f"{child.spec.name} exited with code {code}; its last lines:\n"
                f"{child.output_tail(10)}"
            )


def read_summaries(plans: Sequence[ConsumerPlan]) -> list[dict[str, Any]]:
    out = []
    for consumer in plans:
        if consumer.summary_path is None:
            continue
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(consumer.summary_path.read_text())
            if isinstance(doc, dict):
                out.append(doc)
    return out


def effective_settings(plan: PointPlan, summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The consumer's settings as it reported them (secrets masked), else as planned."""
    for summary in summaries:
        reported = summary.get("settings")
        if isinstance(reported, dict):
            return redact_mapping(reported)
    ours = [c.settings for c in plan.consumers if c.settings is not None]
    if ours:
        return redact_mapping(json.loads(dump_settings(ours[0])))
    first = plan.consumers[0]
    return redact_mapping({"command": list(first.argv), "env": dict(first.env)})
