import dataclasses
import math
import random

import pytest

from poolbench.errors import ConfigError, GateInputError, UserError
from poolbench.gates.compare import Limits, compare, parse_percent, value_text
from poolbench.gates.verdict import MetricVerdict, Verdict
from poolbench.results import PointResult
from tests.gates.factories import point, result_set, with_env

BASE = [point(workers=5, throughput=100.0), point(workers=10, throughput=190.0, p99=110.0)]


def _metric(points: list[PointResult], metric: str, *, workers: int = 5) -> Verdict:
    comparison = compare(result_set(BASE), result_set(points))
    (matched,) = [p for p in comparison.points if p.params == {"consumer.workers": workers}]
    found = [m.verdict for m in matched.metrics if m.metric.name == metric]
    found += [c.verdict for c in matched.counts if c.name == metric]
    (verdict,) = found
    return verdict


def _loose(**effects: float) -> Limits:
    return Limits(min_effect={"throughput": 0.1, "p99_ms": 0.25, "memory_peak_mb": 0.2, **effects})


def test_a_result_passes_against_itself() -> None:
    comparison = compare(result_set(BASE), result_set(BASE))
    assert comparison.passed
    assert len(comparison.points) == 2
    assert all(p.verdict is Verdict.WITHIN for p in comparison.points)
    assert all(m.change == 0.0 for p in comparison.points for m in p.metrics)
    assert any(
        "no significance was possible at 2 point(s): 1 against 1" in note
        for note in comparison.notes
    )


def test_throughput_drop_of_30_percent_is_a_regression_with_one_repeat() -> None:
    doctored = [point(workers=5, throughput=70.0), BASE[1]]
    comparison = compare(result_set(BASE), result_set(doctored))
    assert not comparison.passed
    ((where, what),) = comparison.regressions
    assert where.params == {"consumer.workers": 5}
    assert what.metric.name == "throughput"  # type: ignore[union-attr]
    assert what.change == pytest.approx(-0.30)  # type: ignore[union-attr]
    assert "thresholds alone" in what.detail and "no significance was possible" in what.detail


def test_p99_doubled_is_a_regression() -> None:
    doctored = [point(workers=5, p99=240.0), BASE[1]]
    assert _metric(doctored, "p99_ms") is Verdict.WORSE
    assert _metric(doctored, "throughput") is Verdict.WITHIN


def test_one_lost_email_is_a_regression_whatever_the_thresholds() -> None:
    doctored = [point(workers=5, lost=1), BASE[1]]
    loose = Limits(min_effect={"throughput": 0.99, "p99_ms": 10, "memory_peak_mb": 10})
    comparison = compare(result_set(BASE), result_set(doctored), limits=loose)
    ((_, what),) = comparison.regressions
    assert what.name == "lost"  # type: ignore[union-attr]
    assert (what.baseline, what.current) == (0, 1)  # type: ignore[union-attr]


def test_losses_no_worse_than_the_baseline_pass() -> None:
    lossy_base = [point(workers=5, lost=2), point(workers=5, repeat=1, lost=0)]
    assert compare(result_set(lossy_base), result_set([point(workers=5, lost=2)])).passed
    assert not compare(result_set(lossy_base), result_set([point(workers=5, lost=3)])).passed


def test_duplicates_beyond_the_baseline_are_a_regression() -> None:
    assert _metric([point(workers=5, duplicates=3), BASE[1]], "duplicates") is Verdict.WORSE


def test_memory_and_thresholds_are_configurable() -> None:
    hungrier = [point(workers=5, memory=75.0), BASE[1]]  # +25%
    assert _metric(hungrier, "memory_peak_mb") is Verdict.WORSE
    comparison = compare(result_set(BASE), result_set(hungrier), limits=_loose(memory_peak_mb=0.3))
    assert comparison.passed


def test_improvements_are_reported_and_do_not_fail() -> None:
    faster = [point(workers=5, throughput=150.0, p99=60.0), BASE[1]]
    comparison = compare(result_set(BASE), result_set(faster))
    assert comparison.passed
    assert comparison.points[0].verdict is Verdict.BETTER


def _repeats(rng: random.Random, mean: float, n: int) -> list[PointResult]:
    return [point(workers=5, repeat=i, throughput=rng.gauss(mean, mean * 0.03)) for i in range(n)]


def test_with_repeats_a_significant_drop_is_a_regression() -> None:
    rng = random.Random(42)
    comparison = compare(result_set(_repeats(rng, 100, 5)), result_set(_repeats(rng, 70, 5)))
    ((_, what),) = comparison.regressions
    assert isinstance(what, MetricVerdict) and what.tested
    assert "interval" in what.detail and "excludes zero" in what.detail
    assert what.resolution is not None and what.resolution < 0.1
    assert not comparison.notes


def test_with_repeats_an_overlapping_drop_is_inconclusive_and_fails_only_when_asked() -> None:
    # Medians 15% apart, but the repeats overlap heavily: the interval holds zero.
    base = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([100, 60, 140, 90])]
    cur = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([80, 135, 65, 83])]
    comparison = compare(result_set(base), result_set(cur))
    assert comparison.passed
    (throughput,) = [m for m in comparison.points[0].metrics if m.metric.name == "throughput"]
    assert throughput.verdict is Verdict.INCONCLUSIVE
    assert "wider than +-10%" in throughput.detail
    strict = Limits(fail_on_inconclusive=True)
    assert not compare(result_set(base), result_set(cur), limits=strict).passed


def test_three_repeats_hold_the_medians_to_the_thresholds_and_say_so() -> None:
    # The bootstrap this replaced called 3 against 3 disjoint samples a change at 5%.
    rng = random.Random(3)
    base, cur = result_set(_repeats(rng, 100, 3)), result_set(_repeats(rng, 80, 3))
    comparison = compare(base, cur)
    (metric,) = [m for m in comparison.points[0].metrics if m.metric.name == "throughput"]
    assert metric.verdict is Verdict.WORSE and not metric.tested
    assert "3 against 3 repeats can never reach alpha 0.05" in metric.detail
    assert any("no significance was possible" in note for note in comparison.notes)


def test_a_busy_machine_too_blurred_for_the_threshold_is_said() -> None:
    base = [
        dataclasses.replace(point(workers=5, repeat=i, throughput=t), harness_saturated=True)
        for i, t in enumerate([100, 60, 140, 90])
    ]
    cur = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([80, 135, 65, 83])]
    comparison = compare(result_set(base), result_set(cur))
    assert any(
        "too busy for the effect asked: 4 of 8 runs" in note and "throughput" in note
        for note in comparison.notes
    )


def test_unmatched_points_are_listed() -> None:
    current = [BASE[0], point(workers=20)]
    comparison = compare(result_set(BASE), result_set(current))
    assert comparison.only_in_baseline == ("consumer.workers=10",)
    assert comparison.only_in_current == ("consumer.workers=20",)
    assert len(comparison.points) == 1


def test_no_matching_points_is_unusable_input() -> None:
    with pytest.raises(GateInputError, match="no point") as info:
        compare(result_set(BASE), result_set([point(workers=7)]))
    assert isinstance(info.value, UserError)


def test_a_changed_scenario_is_refused_unless_allowed() -> None:
    changed = result_set(BASE, scenario_hash="def456")
    with pytest.raises(GateInputError, match="allow-scenario-change"):
        compare(result_set(BASE), changed)
    comparison = compare(result_set(BASE), changed, allow_scenario_change=True)
    assert comparison.passed
    assert any("scenario changed" in note for note in comparison.notes)


def test_a_different_environment_is_refused_unless_allowed() -> None:
    elsewhere = result_set(BASE, environment=with_env(cpu_count=8, python="3.12.1"))
    with pytest.raises(GateInputError, match="cpu_count") as info:
        compare(result_set(BASE), elsewhere)
    assert "python" in str(info.value)
    assert "--allow-env-change" in str(info.value)
    comparison = compare(result_set(BASE), elsewhere, allow_env_change=True)
    assert any("environment differs" in note for note in comparison.notes)


def test_another_commit_or_host_is_not_an_environment_change() -> None:
    other_commit = result_set(
        BASE, environment=with_env(git_commit="f" * 40, host="runner-7", platform="Linux-6.8")
    )
    comparison = compare(result_set(BASE), other_commit)
    assert comparison.current_commit == "f" * 40


@pytest.mark.parametrize(
    ("effects", "alpha", "message"),
    [
        ({"throughput": -0.01}, 0.05, "--max-throughput-drop: must not be negative"),
        ({"throughput": 1.0}, 0.05, "--max-throughput-drop: must be below 100%"),
        ({"nonsense": 0.1}, 0.05, "unknown metric"),
        ({"throughput": 0.1}, 0.0, "--alpha"),
    ],
)
def test_invalid_limits_are_rejected(effects: dict[str, float], alpha: float, message: str) -> None:
    with pytest.raises(GateInputError, match=message):
        Limits(min_effect=effects, alpha=alpha)


def test_parse_percent() -> None:
    assert parse_percent("10%") == 10.0
    assert parse_percent(" 12.5 % ") == 12.5
    # A bare number is refused, not read as percent: --max-throughput-drop 0.1 meant 0.1%
    # while --p99-margin 0.2 meant 20%.
    for bare in ("25", "0.1"):
        with pytest.raises(ConfigError, match=f"like '{bare}%'"):
            parse_percent(bare)
    with pytest.raises(ConfigError, match="must be below 100%"):
        parse_percent("100%", below=100)
    for bad in ("ten", "-5%", "nan", "25"):
        with pytest.raises(ConfigError) as caught:
            parse_percent(bad)
        assert (caught.value.where, caught.value.got) == ("", bad)


def test_the_current_runs_warnings_are_repeated_as_notes() -> None:
    warned = dataclasses.replace(
        BASE[0], warnings=("sink CPU at 97% of a core", "a", "b", "c", "a")
    )
    comparison = compare(result_set(BASE), result_set([warned, BASE[1]]))
    ours = [note for note in comparison.notes if "warn" in note]
    assert ours == [
        "current run warned at consumer.workers=5: sink CPU at 97% of a core",
        "current run warned at consumer.workers=5: a",
        "current run warned at consumer.workers=5: b",
        "... and 1 more warning(s) there",
    ]


def test_not_measured_is_n_a_not_nan() -> None:
    assert value_text(math.nan, "ms") == "n/a"
    assert value_text(None, "ms") == "n/a"
    assert value_text(12.0, "ms") == "12.0 ms"


def test_not_measured_now_is_a_regression() -> None:
    unmeasured = dataclasses.replace(BASE[0], memory_mb=None)
    assert _metric([unmeasured, BASE[1]], "memory_peak_mb") is Verdict.WORSE
