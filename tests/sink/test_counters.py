from __future__ import annotations

from poolbench.sink.counters import RawCounters, SinkCounters


def test_every_raw_counter_reaches_the_merged_counters() -> None:
    raw = RawCounters(received=7, dropped=2, outage=1, connections_total=9)
    merged = SinkCounters(**raw.snapshot(), duplicates=1)
    assert {k: v for k, v in merged.as_dict().items() if k in raw.snapshot()} == raw.snapshot()
    assert merged.rejected == 3
