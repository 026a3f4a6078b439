"""The reader of a scenario's `load` section: its rate (or rate profile), timings, count,
seed, poison share, compression, producer settings and priority mix.
"""

from __future__ import annotations

from typing import Any

from poolbench.errors import ConfigError
from poolbench.loadgen.events import parse_priorities
from poolbench.loadgen.spec import (
    COMPRESSIONS,
    librdkafka_setting_error,
    producer_setting_error,
    producer_setting_text,
)
from poolbench.scenario.model import COMPRESSION_AUTO, DEFAULT_PRIORITIES, Load, RateStep
from poolbench.scenario.reader import MISSING, Reader, show
from poolbench.units import parse_duration, parse_rate


def read_load(ctx: Reader, data: Any) -> Load:
    section = ctx.mapping(
        data,
        "load",
        (
            "rate",
            "duration",
            "warmup",
            "warmup_max",
            "drain",
            "cooldown",
            "count",
            "seed",
            "poison",
            "compression",
            "producer",
            "priorities",
        ),
    )
    rate = section.get("rate", "saturate")
    rate_per_s: float | None = None
    profile: tuple[RateStep, ...] = ()
    if isinstance(rate, list):
        profile = ctx.guard(_profile, rate, ())
    elif rate != "saturate":
        rate_per_s = ctx.parsed(section, "rate", parse_rate, default=None)
    load = Load(
        rate_per_s=rate_per_s,
        profile=profile,
        duration_s=ctx.parsed(section, "duration", parse_duration, default="20s", positive=True),
        warmup_s=ctx.parsed(section, "warmup", parse_duration, default="5s"),
        warmup_max_s=ctx.parsed(section, "warmup_max", parse_duration, default="60s"),
        drain_s=ctx.parsed(section, "drain", parse_duration, default="10s"),
        cooldown_s=ctx.parsed(section, "cooldown", parse_duration, default="1s"),
        count=ctx.integer(section, "count", default=None, minimum=1, optional=True),
        seed=ctx.integer(section, "seed", default=1, minimum=0),
        poison=ctx.share(section, "poison", below_one=True),
        compression=ctx.guard(_compression, section, COMPRESSION_AUTO),
        producer=ctx.guard(_producer, section.get("producer"), {}),
        priorities=ctx.guard(_priorities, section.get("priorities"), DEFAULT_PRIORITIES),
    )
    if "warmup_max" in section and load.warmup_max_s < load.warmup_s:
        ctx.fail(
            f"must be at least load.warmup ({load.warmup_s:g}s), got {load.warmup_max_s:g}s",
            "load.warmup_max",
        )
    return load


def _priorities(ctx: Reader, data: Any) -> str:
    """`{high: 0.1, normal: 0.3, low: 0.6}` (shares) or the load generator's text form."""
    if data is None:
        return DEFAULT_PRIORITIES
    if isinstance(data, dict):
        text = ",".join(f"{name}:{weight}" for name, weight in data.items())
    elif isinstance(data, str):
        text = data
    else:
        raise ctx.error(
            f"expected a mapping like {{high: 0.1, normal: 0.3, low: 0.6}}, got {show(data)}",
            "load.priorities",
        )
    try:
        return parse_priorities(text).text
    except ConfigError as exc:
        raise ctx.located(exc, "load.priorities") from exc


def _compression(ctx: Reader, section: dict[str, Any]) -> str:
    choices = (COMPRESSION_AUTO, *COMPRESSIONS)
    value = section.get("compression", COMPRESSION_AUTO)
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise ctx.error(
            f"expected one of {', '.join(choices)}, got {show(value)}", "load.compression"
        )
    return value.strip().lower()


def _producer(ctx: Reader, data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ctx.error(
            f"expected a mapping of librdkafka settings, like {{linger.ms: 5}}, got {show(data)}",
            "load.producer",
        )
    settings: dict[str, str] = {}
    for key, value in data.items():
        problem = producer_setting_error(key, value)
        if problem is not None:
            ctx.fail(problem, f"load.producer.{key}")
            continue
        settings[key] = producer_setting_text(value)
    refused = librdkafka_setting_error(settings)
    if refused is not None:
        key, reason = refused
        raise ctx.error(reason, f"load.producer.{key}" if key else "load.producer")
    return settings


def _profile(ctx: Reader, data: list[Any]) -> tuple[RateStep, ...]:
    if not data:
        raise ctx.error("a rate profile needs at least one {rate, duration} step", "load.rate")
    steps: list[RateStep] = []
    for i, item in enumerate(data):
        section = ctx.mapping(item, f"load.rate[{i}]", ("rate", "duration"))
        steps.append(
            RateStep(
                rate_per_s=ctx.parsed(section, "rate", parse_rate, default=MISSING),
                duration_s=ctx.parsed(
                    section, "duration", parse_duration, default=MISSING, positive=True
                ),
            )
        )
    return tuple(steps)
