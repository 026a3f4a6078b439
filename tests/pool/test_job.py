from __future__ import annotations

from poolbench.pool import Lane, PoolStats, Result


def test_result_fields_in_the_order_the_hot_path_builds_them() -> None:
    # The workers build Result positionally with tuple.__new__, skipping its __new__.
    assert Result._fields == (
        "job_id",
        "success",
        "error",
        "cancelled",
        "queue_wait_s",
        "run_s",
        "value",
        "lane",
    )
    result = Result(
        job_id=1, success=True, error=None, cancelled=False, queue_wait_s=0.0, run_s=0.0
    )
    assert result.value is None
    assert result.lane is Lane.NORMAL


def test_finished_adds_the_three_ends() -> None:
    stats = PoolStats(
        workers=1, buffer=0, submitted=9, rejected=4, queued=1, running=2,
        succeeded=3, failed=2, cancelled=1,
    )  # fmt: skip
    assert stats.finished == 6
    assert stats.lanes == ()  # a pool without lanes
