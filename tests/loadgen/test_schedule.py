from __future__ import annotations

import itertools
import math

import pytest

from poolbench.errors import ConfigError
from poolbench.loadgen.schedule import RateProfile, constant, parse_profile


def _until(profile: RateProfile, seconds: float) -> list[float]:
    return list(itertools.takewhile(lambda t: t < seconds, profile.offsets()))


def test_constant_rate_is_evenly_spaced() -> None:
    offsets = list(itertools.islice(parse_profile("500/s").offsets(), 5))
    assert offsets == pytest.approx([0.0, 0.002, 0.004, 0.006, 0.008])
    assert parse_profile(250) == constant(250.0)
    assert parse_profile("30000/min").rate_at(3.0) == pytest.approx(500.0)


def test_max_has_no_schedule() -> None:
    profile = parse_profile(" MAX ")
    assert profile.is_max
    assert math.isinf(profile.rate_at(1.0))
    with pytest.raises(ConfigError):
        next(profile.offsets())


def test_ramp_rises_linearly_then_holds() -> None:
    profile = parse_profile("ramp:100/s:1100/s:10s")
    assert profile.rate_at(0) == pytest.approx(100)
    assert profile.rate_at(5) == pytest.approx(600)
    assert profile.rate_at(20) == pytest.approx(1100)
    # Integral of the rate over the ramp: (100 + 1100) / 2 * 10 = 6000 events.
    assert profile.expected_count(10) == pytest.approx(6000)
    offsets = _until(profile, 12)
    assert len(offsets) == 6000 + 2 * 1100
    assert offsets == sorted(offsets)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert gaps[0] == pytest.approx(1 / 100, rel=0.01)
    assert gaps[-1] == pytest.approx(1 / 1100, rel=0.01)


def test_falling_ramp_is_also_exact() -> None:
    profile = parse_profile("ramp:1000/s:200/s:4s")
    assert len(_until(profile, 4)) == pytest.approx(profile.expected_count(4), abs=1)


def test_steps_follow_each_rate_for_its_duration() -> None:
    profile = parse_profile("steps:100/s:2s,1000/s:1s,10/s:1s")
    offsets = _until(profile, 6)
    counts = [sum(1 for t in offsets if a <= t < a + 1) for a in range(6)]
    assert counts == [100, 100, 1000, 10, 10, 10]


def test_burst_spikes_then_returns_to_base() -> None:
    profile = parse_profile("burst:100/s:2000/s:1s:500ms")
    offsets = _until(profile, 2.5)
    assert len(offsets) == 100 + 1000 + 100
    assert profile.rate_at(1.2) == pytest.approx(2000)
    assert profile.rate_at(2.0) == pytest.approx(100)
    assert len(_until(parse_profile("burst:100/s:2000/s:0s:1s"), 1)) == 2000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fast", "expected 'max'"),
        ("-5/s", "expected 'max'"),
        ("0/s", "expected 'max'"),
        ("wave:1/s:2/s", "unknown profile 'wave'"),
        ("ramp:1/s:2/s", "wrong number of fields"),
        ("ramp:1/s:2/s:0s", "must be positive"),
        ("steps:100/s", "steps are RATE:FOR"),
        ("burst:1/s:x:1s:1s", "rate"),
    ],
)
def test_bad_profiles_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_profile(text)
