"""The delivery loop's debug costs: known extra work per email, for calibration."""

from __future__ import annotations

import time

from poolbench.consumer.delivery import burn_cpu


def test_the_debug_burn_costs_at_least_its_cpu_time() -> None:
    before = time.thread_time()
    burn_cpu(0.02)
    assert time.thread_time() - before >= 0.02
