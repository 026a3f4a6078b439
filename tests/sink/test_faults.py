from __future__ import annotations

import math
import random

import pytest

from poolbench.errors import ConfigError
from poolbench.sink.faults import (
    Fault,
    FaultConfig,
    Outage,
    OutageMode,
    RateLimit,
    TokenBucket,
    parse_outage,
    parse_rate_limit,
)


def _within_binomial(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_decide_draws_each_fault_at_its_probability() -> None:
    faults = FaultConfig(transient=0.05, permanent=0.02, drop=0.01)
    rng = random.Random(5)
    n = 50_000
    drawn = [faults.decide(rng) for _ in range(n)]
    assert _within_binomial(drawn.count(Fault.TRANSIENT), n, 0.05)
    assert _within_binomial(drawn.count(Fault.PERMANENT), n, 0.02)
    assert _within_binomial(drawn.count(Fault.DROP), n, 0.01)
    assert _within_binomial(drawn.count(None), n, 0.92)


def test_no_faults_never_fires() -> None:
    rng = random.Random(1)
    assert FaultConfig().decide(rng) is None
    assert not FaultConfig().active


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"transient": 1.5}, "--transient"),
        ({"permanent": -0.1}, "--permanent"),
        ({"drop": 2}, "--drop"),
        ({"auth_fail": 1.01}, "--auth-fail"),
        ({"transient": 0.6, "permanent": 0.6}, "--transient/--permanent/--drop"),
        ({"commands": ("HELO",)}, "--fault-at"),
    ],
)
def test_impossible_fault_settings_are_config_errors(fields: dict[str, object], flag: str) -> None:
    from poolbench.cli.edge import fields as located_at
    from poolbench.cli.sink import sink_flags

    with pytest.raises(ConfigError) as caught:
        FaultConfig(**fields)  # type: ignore[arg-type]
    assert caught.value.what.startswith("faults")
    with pytest.raises(ConfigError, match=f"^{flag}: ") as located, located_at(sink_flags()):
        FaultConfig(**fields)  # type: ignore[arg-type]
    assert str(located.value).endswith(caught.value.detail)


def test_commands_are_normalized() -> None:
    assert FaultConfig(commands=("mail", "Greeting")).commands == ("MAIL", "greeting")


def test_token_bucket_starts_full_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(100.05)  # half a token
    assert bucket.take(100.1)  # one token after 0.1 s
    assert not bucket.take(100.1)
    # A long pause refills only up to the burst.
    assert [bucket.take(200.0) for _ in range(4)] == [True, True, True, False]


def test_token_bucket_long_run_rate() -> None:
    bucket = TokenBucket(rate=50.0, burst=1.0, now=0.0)
    taken = sum(bucket.take(i * 0.001) for i in range(10_000))  # 10 s, asking at 1 kHz
    assert taken == pytest.approx(500, abs=2)


def test_parse_outage_forms() -> None:
    assert parse_outage("10s..15s") == Outage(start=10, end=15, mode=OutageMode.REJECT)
    assert parse_outage("stall:500ms..2s") == Outage(start=0.5, end=2, mode=OutageMode.STALL)
    outage = parse_outage("reject:1s..2s")
    assert outage.covers(1.0) and outage.covers(1.99)
    assert not outage.covers(0.99) and not outage.covers(2.0)
    assert parse_outage(outage.describe()) == outage


@pytest.mark.parametrize("text", ["10s", "15s..10s", "pause:1s..2s", "-1s..2s"])
def test_bad_outages_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^outages: ") as caught:
        parse_outage(text)
    assert caught.value.what == "outages"


def test_parse_rate_limit() -> None:
    assert parse_rate_limit("500/s") == RateLimit(rate=500, burst=500)
    assert parse_rate_limit("0.5/s") == RateLimit(rate=0.5, burst=1)
    assert parse_rate_limit("600/min,burst=5") == RateLimit(rate=10, burst=5)
    for bad in ("fast", "0/s", "10/s,burst=0", "10/s,size=3"):
        with pytest.raises(ConfigError, match=r"^rate_limit: ") as caught:
            parse_rate_limit(bad)
        assert caught.value.what == "rate_limit"
