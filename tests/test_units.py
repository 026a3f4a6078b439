import pytest

from poolbench.errors import ConfigError
from poolbench.units import format_duration, parse_duration, parse_rate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("100ms", 0.1), ("2s", 2.0), ("1.5m", 90.0), ("250us", 0.00025), (3, 3.0), ("0", 0.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "-1s", "10 parsecs", "", True, -2])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ConfigError, match="latency"):
        parse_duration(text, what="latency")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rate"), [("500/s", 500.0), ("600/min", 10.0), ("7200/h", 2.0), (20, 20.0)]
)
def test_parse_rate(text: str | int, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["0/s", "lots", "5/fortnight", False])
def test_parse_rate_rejects(text: object) -> None:
    with pytest.raises(ConfigError, match="--rate"):
        parse_rate(text, what="--rate")  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(1.5) == "1.5s"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "9" * 400])
def test_non_finite_durations_and_rates_are_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match="finite"):
        parse_duration(value, what="--x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="finite"):
        parse_rate(value, what="--x")  # type: ignore[arg-type]
