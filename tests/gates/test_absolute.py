import pytest

from poolbench.errors import ConfigError
from poolbench.gates.absolute import describe_params, evaluate_gates
from tests.gates.factories import point


def test_every_gate_is_checked_on_every_point_and_repeat() -> None:
    points = [
        point(workers=5, repeat=0, p99=120.0),
        point(workers=5, repeat=1, p99=130.0),
        point(workers=10, p99=600.0),
    ]
    report = evaluate_gates(["p99_ms < 500", "lost == 0"], points)
    assert len(report.verdicts) == 6
    assert not report.passed
    (failure,) = report.failures
    assert failure.params == {"consumer.workers": 10}
    assert failure.gate == "p99_ms < 500"
    assert failure.measured == "600 < 500"
    assert failure.describe() == (
        "point consumer.workers=10 (repeat 0): gate 'p99_ms < 500' FAILED (measured: 600 < 500)"
    )


def test_gates_see_ideal_and_losses() -> None:
    good = point(workers=4, throughput=99.0)  # ideal = 100/s
    slow = point(workers=4, throughput=80.0)
    lossy = point(workers=4, throughput=99.0, lost=1)
    report = evaluate_gates(["throughput >= 0.95 * ideal", "lost == 0"], [good, slow, lossy])
    failed = [(v.params["consumer.workers"], v.gate, v.measured) for v in report.failures]
    assert failed == [
        (4, "throughput >= 0.95 * ideal", "80 >= 95"),
        (4, "lost == 0", "1 == 0"),
    ]


def test_all_passing_and_no_gates_pass() -> None:
    assert evaluate_gates(["memory_peak_mb < 80"], [point(memory=60.0)]).passed
    empty = evaluate_gates([], [point()])
    assert empty.passed
    assert empty.verdicts == ()


def test_a_malformed_gate_is_a_config_error_before_any_point() -> None:
    with pytest.raises(ConfigError, match="unknown name"):
        evaluate_gates(["latency < 5"], [point()])


def test_describe_params() -> None:
    assert describe_params({}) == "(no sweep)"
    assert describe_params({"a.b": 1, "c": "x"}) == "a.b=1, c=x"


def test_a_gate_on_an_ideal_that_does_not_exist_fails_with_why() -> None:
    """A 0 ms sink has no finite ideal: stored as None, and the gate fails as n/a
    (it used to be stored as 0.0, and `throughput >= 0.9 * ideal` passed any throughput)."""
    import dataclasses

    unbounded = dataclasses.replace(
        point(workers=4, throughput=6860.0), ideal_throughput_per_s=None
    )
    report = evaluate_gates(["throughput >= 0.9 * ideal", "throughput != ideal"], [unbounded])
    assert not report.passed
    first, second = report.verdicts
    assert first.measured == (
        "n/a: cannot evaluate `throughput >= 0.9 * ideal`: ideal has no value "
        "(the sink has no latency: there is no finite bound)"
    )
    assert not second.passed
    assert dict(first.values) == {"ideal": None, "throughput": 6860.0}


def test_a_gate_on_a_failed_point_says_the_point_failed() -> None:
    import dataclasses

    failed = dataclasses.replace(
        point(), error="nothing was measured", throughput_per_s=None, latency_ms=None
    )
    (verdict,) = evaluate_gates(["p99_ms < 500ms"], [failed]).verdicts
    assert not verdict.passed
    assert "p99_ms has no value (the point failed: nothing was measured)" in verdict.measured


def test_verdicts_are_stored_on_their_own_points() -> None:
    from poolbench.gates.absolute import with_verdicts

    points = [point(workers=5, p99=120.0), point(workers=10, p99=600.0)]
    report = evaluate_gates(["p99_ms < 500", "lost == 0"], points)
    stored = with_verdicts(points, report)
    assert [p.gate_failed for p in stored] == [False, True]
    good, bad = stored
    assert [(g.gate, g.passed, g.measured) for g in bad.gates] == [
        ("p99_ms < 500", False, "600 < 500"),
        ("lost == 0", True, "0 == 0"),
    ]
    assert dict(bad.gates[0].values) == {"p99_ms": 600.0}
    assert all(g.passed for g in good.gates)
