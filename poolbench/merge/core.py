"""The exact merge of shard outputs into one result (pure: no file, clock or process).

`merge` takes raw shard outputs (load reports, sink ledgers, consumer summaries,
manifests: `raw.py`) or already measured `results.json` files (`measured.py`), never both
at once; both run the refusals and clock checks of `clocks.py` first. File reading is
`inputs.py`'s.
"""

from __future__ import annotations

from poolbench.merge.clocks import check_clocks, check_manifests, clock_notes
from poolbench.merge.inputs import DeadLetters, Inputs, MergeError
from poolbench.merge.measured import merge_results
from poolbench.merge.options import MergeOptions
from poolbench.merge.raw import merge_raw
from poolbench.results import Environment, ResultSet


def merge(
    inputs: Inputs,
    options: MergeOptions,
    environment: Environment,
    dead_letters: DeadLetters | None = None,
) -> ResultSet:
    """Raw shard outputs, or shard results.json files (not both in one merge)."""
    raw = bool(inputs.loads or inputs.ledgers or inputs.summaries)
    if raw and inputs.results:
        raise MergeError(
            "the inputs mix raw shard outputs and results.json files: merge one kind at a time",
            path=str(inputs.results[0].path),
        )
    if inputs.results:
        notes = check_manifests(inputs.manifests)
        check_clocks(inputs, options.max_clock_skew_ns)
        notes += clock_notes(inputs)
        if not inputs.manifests:
            notes.append("clock: no shard manifest among the inputs: every clock offset unknown")
        return merge_results(inputs.results, options, notes=notes)
    return merge_raw(inputs, options, environment, dead_letters)
