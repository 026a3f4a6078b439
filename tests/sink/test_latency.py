from __future__ import annotations

import math
import random
import statistics

import pytest

from poolbench.errors import ConfigError
from poolbench.sink.latency import (
    Exponential,
    Fixed,
    LogNormal,
    Normal,
    Uniform,
    parse_latency,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100ms", Fixed(delay=0.1)),
        ("fixed:2s", Fixed(delay=2.0)),
        ("0", Fixed(delay=0.0)),
        ("uniform:50ms..150ms", Uniform(low=0.05, high=0.15)),
        ("normal:100ms,20ms", Normal(mean=0.1, stddev=0.02)),
        ("lognormal:median=80ms,p99=400ms", LogNormal(median_delay=0.08, p99=0.4)),
        ("lognormal: p99=400ms, median=80ms", LogNormal(median_delay=0.08, p99=0.4)),
        ("exp:100ms", Exponential(mean=0.1)),
        ("EXPONENTIAL:1s", Exponential(mean=1.0)),
    ],
)
def test_parse_latency_builds_each_model(text: str, expected: object) -> None:
    assert parse_latency(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-5ms", "negative"),
        ("uniform:150ms..50ms", "upper bound"),
        ("uniform:50ms", "expected"),
        ("normal:100ms", "expected"),
        ("normal:100ms,-1ms", "negative"),
        ("lognormal:median=80ms", "both"),
        ("lognormal:median=400ms,p99=80ms", "median <= p99"),
        ("lognormal:mean=1s,p99=2s", "expected"),
        ("gamma:1s", "unknown latency model"),
        ("fast", "expected a duration"),
    ],
)
def test_impossible_models_are_config_errors_at_what_the_caller_named(
    text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=r"^sink\.latency: ") as info:
        parse_latency(text, what="sink.latency")
    assert fragment in str(info.value)
    assert info.value.what == "sink.latency"
    assert info.value.at("--latency").describe() == f"--latency: {info.value.detail}"


@pytest.mark.parametrize(
    "text",
    [
        "100ms",
        "uniform:50ms..150ms",
        "normal:100ms,20ms",
        "lognormal:median=80ms,p99=400ms",
        "exp:100ms",
    ],
)
def test_sampled_median_matches_the_model_and_describe_round_trips(text: str) -> None:
    model = parse_latency(text)
    rng = random.Random(7)
    samples = [model.sample(rng) for _ in range(20_000)]
    assert min(samples) >= 0
    assert statistics.median(samples) == pytest.approx(model.median(), rel=0.03)
    assert parse_latency(model.describe()) == model


def test_lognormal_p99_is_honoured() -> None:
    model = parse_latency("lognormal:median=80ms,p99=400ms")
    rng = random.Random(3)
    samples = sorted(model.sample(rng) for _ in range(50_000))
    assert samples[int(0.99 * len(samples))] == pytest.approx(0.4, rel=0.08)


def test_exponential_median_is_mean_times_ln2() -> None:
    assert parse_latency("exp:100ms").median() == pytest.approx(0.1 * math.log(2))


def test_same_seed_same_delays() -> None:
    model = parse_latency("normal:100ms,20ms")
    first = [model.sample(random.Random(11)) for _ in range(3)]
    second = [model.sample(random.Random(11)) for _ in range(3)]
    assert first == second
    assert model.sample(random.Random(11)) != model.sample(random.Random(12))
