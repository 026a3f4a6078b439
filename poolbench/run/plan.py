"""What one point will run, computed from the scenario alone: no process, socket or clock.

`plan_point` turns a sweep point into its topics and group (unique to the point, so no
point reads another's messages), the sink's configuration, the load generator's spec,
and each consumer process's command, environment and settings. Ports come from an
injected function, so a test gets the same plan every time.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import poolbench
from poolbench.consumer.settings import ConsumerSettings, load_settings
from poolbench.loadgen import LoadSpec
from poolbench.loadgen.events import build_event, recipient, rfc3339
from poolbench.redact import is_secret_name
from poolbench.run.figures import LoadMode, ideal_throughput
from poolbench.run.processes import foreign_command
from poolbench.scenario import Point, Scenario
from poolbench.scenario.kafka import effective_compression, load_profile, retention_warning
from poolbench.sink import SinkConfig, parse_latency
from poolbench.sink.config import Auth
from poolbench.sink.faults import FaultConfig, Outage, RateLimit
from poolbench.wire import encode_event

# From the sink's start to the load's start: the load generator's process imports and
# connects meanwhile; a scenario's outage `at: 8s` counts from the load's start.
SINK_LEAD_S: Final = 3.0
READY_PATTERN: Final = r"consumer ready"
_LATENCY_SAMPLES: Final = 20_000  # to estimate the mean of a random sink latency model


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerPlan:
    """One consumer process: ours (with `settings`) or a foreign command."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    settings: ConsumerSettings | None  # ours only: passed as one JSON file
    settings_path: Path | None
    summary_path: Path | None
    metrics_port: int | None
    log_path: Path
    ready_pattern: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PointPlan:
    label: str
    topic: str
    dlq: str
    group: str
    partitions: int
    mode: LoadMode
    workers: int
    instances: int
    mean_latency_s: float
    offered_per_s: float | None
    ideal_per_s: float | None
    sink: SinkConfig
    load: LoadSpec
    consumers: tuple[ConsumerPlan, ...]
    warmup_s: float
    total_s: float
    drain_s: float
    # The warm-up is extended until the consumer is steady (`poolbench.run.steady`), up
    # to `warmup_max_s`, then `duration_s` is measured while the schedule continues; the
    # load generator is given `warmup_max_s + duration_s` and stopped at the window's end.
    # False (a count, a profile, outages at fixed times): the fixed `warmup_s`.
    adaptive: bool = False
    warmup_max_s: float = 0.0
    duration_s: float = 0.0
    secrets: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)  # said before the load starts
    allowed_drops: int = 0  # the scenario's allow.retention_drops


def mean_latency_s(model: Any, seed: int = 0) -> float:
    """The mean of a sink latency model (exact for fixed; a seeded estimate otherwise)."""
    rng = random.Random(seed)
    first = float(model.sample(rng))
    if all(float(model.sample(rng)) == first for _ in range(8)):
        return first
    return statistics.fmean(float(model.sample(rng)) for _ in range(_LATENCY_SAMPLES))


def offered_rate(scenario: Scenario) -> float | None:
    """The open-model rate averaged over the measured window; None when saturating."""
    load = scenario.load
    if load.saturate:
        return None
    if load.rate_per_s is not None:
        return load.rate_per_s
    # A profile loops: average it over [warm-up, end of load).
    cycle = sum(step.duration_s for step in load.profile)
    if cycle <= 0:
        return None
    events = 0.0
    t = 0.0
    start, end = load.warmup_s, load.total_s
    while t < end:
        for step in load.profile:
            lo, hi = max(t, start), min(t + step.duration_s, end)
            if hi > lo:
                events += step.rate_per_s * (hi - lo)
            t += step.duration_s
            if t >= end:
                break
    return events / (end - start) if end > start else None


def backlog_for(scenario: Scenario, ideal_per_s: float | None) -> int:
    """Saturation backlog: enough to keep every worker busy through a commit interval.

    The load generator sees progress through committed offsets, which lag by up to the
    consumer's commit interval (1 s) plus what sits in its queue and workers; twice the
    queue and workers plus 1.5 s of work at the ideal rate keeps the workers from ever
    starving, and no more than that keeps the drain short.
    """
    c = scenario.consumer
    in_flight = (c.workers + c.buffer) * c.instances
    per_s = ideal_per_s if ideal_per_s else 1000.0
    return max(50, math.ceil(2 * in_flight + 1.5 * per_s))


def python_env(pythonpath: Path | None = None) -> dict[str, str]:
    """What a `python -m poolbench` child needs beyond a clean environment: the folder of
    its poolbench (default: this process's)."""
    root = pythonpath or Path(poolbench.__file__).resolve().parent.parent
    return {"PYTHONPATH": str(root)}


def consumer_settings(
    scenario: Scenario,
    *,
    bootstrap_servers: str,
    topic: str,
    dlq: str,
    group: str,
    smtp_port: int,
    metrics_port: int,
) -> ConsumerSettings:
    """Our consumer's settings: the scenario's knobs, then its `consumer.env`, validated
    by the consumer's own parsers (an invalid `consumer.env` value fails here, up front)."""
    c = scenario.consumer
    flags: dict[str, object | None] = {
        **c.settings_values(),
        "kafka_brokers": bootstrap_servers,
        "kafka_topic": topic,
        "kafka_group": group,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "dlq_topic": dlq,
        "metrics_port": metrics_port,
        # The sampler scrapes 127.0.0.1: no port of a benchmark on other interfaces.
        "metrics_host": "127.0.0.1",
    }
    if scenario.sink.auth_user is not None:
        flags["smtp_user"] = scenario.sink.auth_user
        flags["smtp_password"] = scenario.sink.auth_password
    return load_settings(flags, dict(c.env))


def _sink_config(scenario: Scenario, port: int) -> SinkConfig:
    s = scenario.sink
    return SinkConfig(
        host="127.0.0.1",
        port=port,
        latency=parse_latency(s.latency, what="sink.latency"),
        faults=FaultConfig(
            transient=s.faults.transient, permanent=s.faults.permanent, drop=s.faults.drop
        ),
        max_connections=s.max_connections,
        # Bursts of up to a tenth of a second's worth: with a burst of one, every moment
        # without a waiting attempt wastes a token, and the limit is never reached.
        rate_limit=(
            RateLimit(rate=s.rate_limit_per_s, burst=max(1.0, s.rate_limit_per_s / 10))
            if s.rate_limit_per_s
            else None
        ),
        outages=tuple(
            Outage(start=o.at + SINK_LEAD_S, end=o.at + o.duration + SINK_LEAD_S) for o in s.outages
        ),
        auth=(
            Auth(user=s.auth_user, password=s.auth_password)
            if s.auth_user is not None and s.auth_password is not None
            else None
        ),
        processes=s.processes,
        engine=s.engine,  # type: ignore[arg-type]
        isolated=True,
        seed=scenario.load.seed,
    )


def adaptive_warmup(scenario: Scenario) -> bool:
    """Whether the warm-up may be extended until the consumer is steady: not for a fixed
    count, a rate profile (never steady by design) or outages placed at fixed times."""
    load = scenario.load
    return (
        load.count is None
        and not load.profile
        and not scenario.sink.outages
        and load.warmup_max_s > load.warmup_s
    )


def _load_spec(scenario: Scenario, *, topic: str, group: str, backlog: int | None) -> LoadSpec:
    load = scenario.load
    profile = load_profile(load)
    longest = load.warmup_max_s + load.duration_s if adaptive_warmup(scenario) else load.total_s
    return LoadSpec(
        topic=topic,
        rate="saturate" if profile is None else profile,
        duration=longest,
        count=load.count,
        backlog=backlog,
        group=group if backlog is not None else None,
        poison=load.poison,
        seed=load.seed,
        compression=effective_compression(scenario),
        producer=dict(load.producer),
        priorities=load.priorities,
    )


def command_warning(scenario: Scenario) -> str | None:
    """A foreign consumer told neither where Kafka is nor which topic to read: it cannot
    read this point's topic (each point has its own), so it will receive nothing."""
    c = scenario.consumer
    if c.command is None:
        return None
    text = " ".join([c.command, *c.env.values()])
    if "{topic}" in text or "{bootstrap}" in text:
        return None
    return (
        "consumer.command: neither the command nor consumer.env mentions {topic} or "
        "{bootstrap}: each point has its own topic, which the consumer must be told"
    )


def load_warnings(scenario: Scenario, spec: LoadSpec) -> tuple[str, ...]:
    """What the runner should say before the load: the embedded broker's retention."""
    if not scenario.broker.embedded:
        return ()
    load = scenario.load
    sample = build_event(
        event_id="00000000-0000-0000-0000-000000000000",
        template="plain",
        priority="normal",
        to=recipient(0),
        timestamp=rfc3339(0),
        data_bytes=0,
    )
    warning = retention_warning(
        rate_per_s=None if load.saturate else offered_rate(scenario),
        count=load.count,
        duration_s=load.total_s,
        message_bytes=len(encode_event(sample)),
        partitions=scenario.topic.partitions,
        compression=spec.compression,
    )
    return () if warning is None else (warning,)


def plan_point(
    point: Point,
    *,
    bootstrap_servers: str,
    run_id: str,
    sequence: int,
    workdir: Path,
    private_dir: Path,
    reserve_port: Callable[[], int],
    python: str = sys.executable,
    pythonpath: Path | None = None,
) -> PointPlan:
    """Everything point `sequence` of run `run_id` will start, and where it writes.

    `workdir` keeps what a reader may see (logs, summaries, the load report);
    `private_dir` what holds secrets (our consumer's settings file, with the SMTP
    password), never inside the results.
    """
    scenario = point.scenario
    topic = f"{scenario.topic.name}-{run_id}-{sequence}"
    dlq = f"{scenario.topic.dlq}-{run_id}-{sequence}"
    group = f"poolbench-{run_id}-{sequence}"
    sink = _sink_config(scenario, reserve_port())
    mean_latency = mean_latency_s(sink.latency, seed=scenario.load.seed)
    offered = offered_rate(scenario)
    c = scenario.consumer
    ideal = ideal_throughput(
        workers=c.workers,
        instances=c.instances,
        mean_latency_s=mean_latency,
        offered_per_s=offered,
    )
    mode = LoadMode.SATURATE if scenario.load.saturate else LoadMode.OPEN
    backlog = backlog_for(scenario, ideal) if mode is LoadMode.SATURATE else None
    secrets = [value for name, value in c.env.items() if is_secret_name(name) and value]
    if scenario.sink.auth_password:
        secrets.append(scenario.sink.auth_password)
    consumers: list[ConsumerPlan] = []
    for i in range(c.instances):
        name = f"consumer-{i}"
        log_path = workdir / f"{name}.log"
        values = {
            "workers": c.workers,
            "buffer": c.buffer,
            "bootstrap": bootstrap_servers,
            "topic": topic,
            "dlq_topic": dlq,
            "group": group,
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "instance": i,
        }
        if c.command is not None:
            argv, env = foreign_command(c.command, c.env, values)
            consumers.append(
                ConsumerPlan(
                    name=name,
                    argv=tuple(argv),
                    env=dict(env),
                    settings=None,
                    settings_path=None,
                    summary_path=None,
                    metrics_port=None,
                    log_path=log_path,
                    ready_pattern=None,
                )
            )
            continue
        metrics_port = reserve_port()
        settings = consumer_settings(
            scenario,
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            dlq=dlq,
            group=group,
            smtp_port=sink.port,
            metrics_port=metrics_port,
        )
        if settings.smtp_password and settings.smtp_password not in secrets:
            secrets.append(settings.smtp_password)
        settings_path = private_dir / f"{name}.settings.json"
        summary_path = workdir / f"{name}.summary.json"
        consumers.append(
            ConsumerPlan(
                name=name,
                argv=(
                    python,
                    "-m",
                    "poolbench",
                    "consume",
                    "--settings-file",
                    str(settings_path),
                    "--summary-json",
                    str(summary_path),
                ),
                env=python_env(pythonpath),
                settings=settings,
                settings_path=settings_path,
                summary_path=summary_path,
                metrics_port=metrics_port,
                log_path=log_path,
                ready_pattern=READY_PATTERN,
            )
        )
    load = _load_spec(scenario, topic=topic, group=group, backlog=backlog)
    return PointPlan(
        label=point.label,
        topic=topic,
        dlq=dlq,
        group=group,
        partitions=scenario.topic.partitions,
        mode=mode,
        workers=c.workers,
        instances=c.instances,
        mean_latency_s=mean_latency,
        offered_per_s=offered,
        ideal_per_s=ideal,
        sink=sink,
        load=load,
        consumers=tuple(consumers),
        warmup_s=scenario.load.warmup_s,
        total_s=scenario.load.total_s,
        drain_s=scenario.load.drain_s,
        adaptive=adaptive_warmup(scenario),
        warmup_max_s=scenario.load.warmup_max_s,
        duration_s=scenario.load.duration_s,
        secrets=tuple(secrets),
        allowed_drops=scenario.allow.retention_drops,
        warnings=load_warnings(scenario, load)
        + tuple(w for w in (command_warning(scenario),) if w is not None),
    )
