"""Which gaps in deliveries an outage made and which the breaker's cooldown did."""

from collections.abc import Sequence

from poolbench.report.faults import Gap, Outage, delivery_gaps, explain_gaps, offered_at
from poolbench.results import TimelineSample


def _timeline(delivered: Sequence[float]) -> list[TimelineSample]:
    return [
        TimelineSample(
            t_s=float(i),
            delivered_per_s=d,
            queue_depth=0,
            p99_ms=None if d == 0 else 60.0,
            rss_mb=40,
        )
        for i, d in enumerate(delivered)
    ]


# The faults scenario: 50/s, a 2 s outage at 8 s, a 5 s breaker cooldown: no delivery
# from 8 s to 13 s, then the backlog drains.
FAULTS = [0, 48, 50, 50, 50, 50, 50, 50, 0, 0, 0, 0, 0, 260, 120, 50, 50]


def test_the_breaker_not_the_outage_set_the_gap_of_the_faults_scenario() -> None:
    (cause,) = explain_gaps(
        _timeline(FAULTS), [Outage(at_s=8, duration_s=2)], cooldown_s=5.0, load_s=15.0
    )
    assert cause.gap == Gap(start_s=8, end_s=13)
    assert cause.by_breaker
    text = cause.describe()
    assert "2 s outage at 8 s made 5 s with no delivery (8-13 s)" in text
    assert "breaker cooldown (5 s), not the outage, set the gap's length" in text


def test_a_gap_as_long_as_the_outage_is_the_outages() -> None:
    delivered = [0, 50, 50, 50, 0, 0, 90, 50, 50]
    (cause,) = explain_gaps(
        _timeline(delivered), [Outage(at_s=4, duration_s=2)], cooldown_s=5.0, load_s=9.0
    )
    assert not cause.by_breaker
    assert cause.describe().endswith("as long as the outage")


def test_without_a_known_cooldown_the_breaker_is_not_blamed() -> None:
    (cause,) = explain_gaps(
        _timeline(FAULTS), [Outage(at_s=8, duration_s=2)], cooldown_s=None, load_s=15.0
    )
    assert not cause.by_breaker


def test_start_up_and_the_drain_after_the_load_are_not_gaps() -> None:
    delivered = [0, 0, 50, 50, 50, 0, 0, 0]
    assert delivery_gaps(_timeline(delivered), load_s=5.0) == []
    # A long quiet stretch without an outage is named, a single quiet second is not.
    quiet = [0, 50, 0, 50, 0, 0, 0, 50]
    causes = explain_gaps(_timeline(quiet), [], cooldown_s=5.0, load_s=8.0)
    assert [c.gap for c in causes] == [Gap(start_s=4, end_s=7)]
    assert "with no outage then" in causes[0].describe()


def test_offered_rate_of_fixed_profile_and_saturating_loads() -> None:
    assert offered_at({"load": {"rate": 50.0}}, 3.0) == 50.0
    assert offered_at({"load": {"rate": "saturate"}}, 3.0) is None
    profile = {"load": {"rate": [{"rate": 10, "duration": 2}, {"rate": 100, "duration": 1}]}}
    assert [offered_at(profile, t) for t in (0, 1.5, 2.5, 3.0, 5.5)] == [10, 10, 100, 10, 100]
