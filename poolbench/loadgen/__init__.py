"""The open-model load generator: scheduled `EmailEvent`s into a Kafka topic, with a report.

`run_load(spec, bootstrap_servers=...)` is the entry point; `LoadSpec` says what to send,
`LoadReport` what was done. See `schedule` (rate profiles), `events` (event knobs),
`backlog` (saturation mode) and `producer` (the loop).
"""

from __future__ import annotations

from poolbench.loadgen.producer import run_load
from poolbench.loadgen.spec import LoadProgress, LoadReport, LoadSpec

__all__ = ["LoadProgress", "LoadReport", "LoadSpec", "run_load"]
