import dataclasses
import math
import random

import pytest

from poolbench.errors import ConfigError, GateInputError, UserError
from poolbench.gates.compare import THRESHOLD_ONLY, Thresholds, Verdict, compare, parse_percent
from poolbench.results import PointResult
from tests.gates.factories import point, result_set, with_env

BASE = [point(workers=5, throughput=100.0), point(workers=10, throughput=190.0, p99=110.0)]


def _metric(points: list[PointResult], metric: str, *, workers: int = 5) -> Verdict:
    comparison = compare(result_set(BASE), result_set(points))
    (matched,) = [p for p in comparison.points if p.params == {"consumer.workers": workers}]
    (found,) = [m for m in matched.metrics if m.metric == metric]
    return found.verdict


def test_a_result_passes_against_itself() -> None:
    comparison = compare(result_set(BASE), result_set(BASE))
    assert comparison.passed
    assert len(comparison.points) == 2
    assert all(p.verdict is Verdict.PASS for p in comparison.points)
    assert all(m.change_pct in (0.0, None) for p in comparison.points for m in p.metrics)
    assert any("single repeat" in note for note in comparison.notes)


def test_throughput_drop_of_30_percent_is_a_regression_with_one_repeat() -> None:
    doctored = [point(workers=5, throughput=70.0), BASE[1]]
    comparison = compare(result_set(BASE), result_set(doctored))
    assert not comparison.passed
    ((where, what),) = comparison.regressions
    assert where.params == {"consumer.workers": 5}
    assert what.metric == "throughput"
    assert what.change_pct == pytest.approx(-30.0)
    assert what.method == THRESHOLD_ONLY
    assert what.change_text() == "-30.0%"


def test_p99_doubled_is_a_regression() -> None:
    doctored = [point(workers=5, p99=240.0), BASE[1]]
    assert _metric(doctored, "p99_ms") is Verdict.REGRESSION
    assert _metric(doctored, "throughput") is Verdict.PASS


def test_one_lost_email_is_a_regression_whatever_the_thresholds() -> None:
    doctored = [point(workers=5, lost=1), BASE[1]]
    loose = Thresholds(max_throughput_drop_pct=99, max_p99_rise_pct=1000, max_memory_rise_pct=1000)
    comparison = compare(result_set(BASE), result_set(doctored), thresholds=loose)
    ((_, what),) = comparison.regressions
    assert what.metric == "lost"
    assert (what.baseline, what.current) == (0, 1)
    assert what.change_text() == "+1"


def test_losses_no_worse_than_the_baseline_pass() -> None:
    lossy_base = [point(workers=5, lost=2), point(workers=5, repeat=1, lost=0)]
    assert compare(result_set(lossy_base), result_set([point(workers=5, lost=2)])).passed
    assert not compare(result_set(lossy_base), result_set([point(workers=5, lost=3)])).passed


def test_duplicates_beyond_the_baseline_are_a_regression() -> None:
    assert _metric([point(workers=5, duplicates=3), BASE[1]], "duplicates") is (Verdict.REGRESSION)


def test_memory_and_thresholds_are_configurable() -> None:
    hungrier = [point(workers=5, memory=75.0), BASE[1]]  # +25%
    assert _metric(hungrier, "memory_peak_mb") is Verdict.REGRESSION
    wide = Thresholds(max_memory_rise_pct=30)
    comparison = compare(result_set(BASE), result_set(hungrier), thresholds=wide)
    assert comparison.passed


def test_improvements_are_reported_and_do_not_fail() -> None:
    faster = [point(workers=5, throughput=150.0, p99=60.0), BASE[1]]
    comparison = compare(result_set(BASE), result_set(faster))
    assert comparison.passed
    assert comparison.points[0].verdict is Verdict.IMPROVEMENT


def _repeats(rng: random.Random, mean: float, n: int) -> list[PointResult]:
    return [point(workers=5, repeat=i, throughput=rng.gauss(mean, mean * 0.03)) for i in range(n)]


def test_with_repeats_a_significant_drop_is_a_regression() -> None:
    rng = random.Random(42)
    comparison = compare(result_set(_repeats(rng, 100, 5)), result_set(_repeats(rng, 70, 5)))
    ((_, what),) = comparison.regressions
    assert what.method.startswith("Mann-Whitney U (exact)")
    assert not comparison.notes


def test_with_repeats_a_drop_beyond_the_threshold_but_not_significant_is_noise() -> None:
    # Medians 15% apart, but the repeats overlap heavily: the test does not agree.
    base = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([100, 60, 140, 90])]
    cur = [point(workers=5, repeat=i, throughput=t) for i, t in enumerate([80, 135, 65, 83])]
    comparison = compare(result_set(base), result_set(cur))
    assert comparison.passed
    (throughput,) = [m for m in comparison.points[0].metrics if m.metric == "throughput"]
    assert throughput.verdict is Verdict.NOISE
    assert throughput.change_pct is not None
    assert throughput.change_pct < -10


def test_verdicts_are_reproducible_for_a_seed() -> None:
    rng = random.Random(3)
    base, cur = result_set(_repeats(rng, 100, 3)), result_set(_repeats(rng, 80, 3))
    assert compare(base, cur, seed=9) == compare(base, cur, seed=9)
    (metric,) = [m for m in compare(base, cur).points[0].metrics if m.metric == "throughput"]
    assert metric.method.startswith("bootstrap")


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
    "kwargs",
    [{"max_throughput_drop_pct": -1}, {"max_throughput_drop_pct": 100}, {"alpha": 0}],
)
def test_invalid_thresholds_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(GateInputError):
        Thresholds(**kwargs)


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
    from poolbench.gates.compare import _format

    assert _format(math.nan, " ms") == "n/a"
    assert _format(12.0, " ms") == "12.0 ms"
