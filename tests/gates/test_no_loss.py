"""Loss, duplicates and failed points fail a run even without gates, unless allowed."""

from __future__ import annotations

from typing import Any

from poolbench.gates.no_loss import check_accounting
from poolbench.scenario.model import Allow
from tests.gates.factories import point


def failed_point(**changes: Any) -> Any:
    from dataclasses import replace

    return replace(point(workers=3), **changes)


def test_a_clean_run_passes() -> None:
    verdict = check_accounting([point(workers=5), point(workers=10)], Allow())
    assert verdict.passed
    assert verdict.allowed == ()


def test_any_loss_fails_and_names_the_point() -> None:
    verdict = check_accounting([point(workers=5, lost=2)], Allow())
    assert not verdict.passed
    assert verdict.failures == (
        "point consumer.workers=5 (repeat 0): lost 2 of 1000 emails (allow.lost: 0)",
    )


def test_duplicates_beyond_the_allowance_fail() -> None:
    assert not check_accounting([point(workers=5, duplicates=3)], Allow(duplicates=2)).passed
    assert check_accounting([point(workers=5, duplicates=2)], Allow(duplicates=2)).passed


def test_an_allowed_loss_passes_and_is_still_said() -> None:
    verdict = check_accounting([point(workers=5, lost=10)], Allow(lost=10))
    assert verdict.passed
    assert verdict.allowed == (
        "point consumer.workers=5 (repeat 0): lost 10, allowed by allow.lost: 10",
    )


def test_a_failed_point_fails_the_run() -> None:
    broken = failed_point(error="consumer-0 exited with code 3 during the load")
    verdict = check_accounting([broken], Allow(lost=100))
    assert not verdict.passed
    assert "failed: consumer-0 exited with code 3" in verdict.failures[0]


def test_inconsistent_accounting_fails() -> None:
    verdict = check_accounting([failed_point(inconsistencies=1)], Allow())
    assert verdict.failures == (
        "point consumer.workers=3 (repeat 0): 1 accounting inconsistencies",
    )


def test_allowed_retention_drops_pass_and_are_still_said() -> None:
    kept = point(workers=5)
    assert kept.delivered is not None
    dropped = failed_point(delivered=kept.delivered - 40, dropped_by_broker=40)
    verdict = check_accounting([dropped], Allow(retention_drops=40))
    assert verdict.passed
    assert verdict.allowed == (
        "point consumer.workers=3 (repeat 0): retention_drops 40, "
        "allowed by allow.retention_drops: 40",
    )
    # Without the allowance, the point itself failed (measure names the broker): no
    # second, contradicting "allowed" line.
    assert check_accounting([dropped], Allow(retention_drops=39)).allowed == ()
