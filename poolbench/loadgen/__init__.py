"""The open-model load generator: scheduled `EmailEvent`s into a Kafka topic, with a report.

`run_load(spec, bootstrap_servers=...)` runs it in this process; `LoadProcess(spec, ...)`
in a child process of its own. `LoadSpec` says what to send (and crosses to the child as
JSON), `LoadReport` what was done, down to every acknowledged id, partition and offset.
See `schedule` (rate profiles), `events` (event knobs), `backlog` (saturation mode),
`producer` (the loop) and `process` (the child).
"""

from __future__ import annotations

from poolbench.loadgen.process import LoadProcess
from poolbench.loadgen.producer import run_load
from poolbench.loadgen.report import LoadProgress, LoadReport
from poolbench.loadgen.spec import LoadSpec

__all__ = ["LoadProcess", "LoadProgress", "LoadReport", "LoadSpec", "run_load"]
