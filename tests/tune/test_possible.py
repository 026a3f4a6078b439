import pytest

from poolbench.tune.probes import Target, impossible


def test_a_p99_at_or_below_the_sink_latency_is_impossible() -> None:
    problem = impossible(Target(rate=100, p99_ms=10), send_s=0.05, max_workers=2000)
    assert problem is not None and problem.what == "p99"
    assert "not above the sink's latency of 50 ms" in str(problem)


def test_the_margin_counts() -> None:
    # 55 ms less 20% is 44 ms: below a 50 ms sink.
    target = Target(rate=100, p99_ms=55, p99_margin=0.2)
    problem = impossible(target, send_s=0.05, max_workers=2000)
    assert problem is not None and "20% margin" in str(problem)


def test_more_workers_than_allowed_is_impossible() -> None:
    problem = impossible(Target(rate=1000, p99_ms=500, headroom=0.2), send_s=0.1, max_workers=100)
    assert problem is not None and problem.what == "max_workers"
    assert "at least 120 workers" in str(problem)


@pytest.mark.parametrize("send_s", [None, 0.0])
def test_without_a_fixed_latency_nothing_is_ruled_out(send_s: float | None) -> None:
    assert impossible(Target(rate=100, p99_ms=1), send_s=send_s, max_workers=1) is None


def test_a_possible_target_passes() -> None:
    assert impossible(Target(rate=100, p99_ms=500), send_s=0.05, max_workers=2000) is None
