"""The calibration's rates carry Wilson 95% intervals: 0 false alarms in n is not 0%."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.calibrate_compare import wilson


def test_zero_of_forty_still_allows_almost_nine_percent() -> None:
    low, high = wilson(0, 40)
    assert low == 0.0
    assert high == pytest.approx(1.96**2 / (40 + 1.96**2))  # 8.8%


def test_an_interval_holds_its_rate_and_narrows_with_more_compares() -> None:
    low, high = wilson(18, 20)
    assert low < 0.9 < high
    wide = high - low
    low, high = wilson(90, 100)
    assert low < 0.9 < high and high - low < wide
    assert wilson(0, 0) == (0.0, 1.0)


def test_pooling_joins_the_compares_of_each_kind_across_sessions(tmp_path: Path) -> None:
    import json

    from benchmarks.calibrate_compare import _stored

    folders = []
    for session, records in (("mix-1", [{"n": 1}, {"n": 2}]), ("mix-2", [{"n": 3}])):
        for kind, mode in (("same", "same"), ("slow5", "slow")):
            folder = tmp_path / session / kind
            folder.mkdir(parents=True)
            doc = {"mode": mode, "delay": session, "records": records}
            (folder / "calibration.json").write_text(json.dumps(doc))
            folders.append(folder)
    pooled = dict(_stored(folders, pool=True))
    assert set(pooled) == {"same (2 sessions)", "slow5 (2 sessions)"}
    assert [r["n"] for r in pooled["same (2 sessions)"]["records"]] == [1, 2, 3]
    assert pooled["slow5 (2 sessions)"]["delay"] == "mix-1 / mix-2"
    assert len(_stored(folders, pool=False)) == 4  # without --pool: one per folder
