"""Baselines on disk: store a run's results as a baseline, and load gate inputs.

A baseline is a `results.json` of one run (same schema, same validation) saved under a
name of the user's choosing, usually `results/baselines/NAME.json` and committed. The
per-second timelines and encoded histograms are left out: the gate does not use them and
they would bloat the repository.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from poolbench.errors import GateInputError, ResultsError
from poolbench.results import RESULTS_FILE, ResultSet, load


def resolve_results(path: Path | str) -> Path:
    """The results.json meant by `path`: the file itself, a run directory holding one, or
    a scenario directory (`results/quick/`), whose latest run is taken (the run
    directories are UTC timestamps, so the greatest name is the latest)."""
    given = Path(path)
    if not given.is_dir() or (given / RESULTS_FILE).exists():
        return given / RESULTS_FILE if given.is_dir() else given
    runs = sorted(d for d in given.iterdir() if (d / RESULTS_FILE).is_file())
    return runs[-1] / RESULTS_FILE if runs else given / RESULTS_FILE


def load_input(path: Path | str, *, role: str) -> ResultSet:
    """Load results (see `resolve_results`); any problem is a `GateInputError` (exit 2)."""
    try:
        return load(resolve_results(path))
    except ResultsError as exc:
        raise GateInputError(f"{role}: {exc}") from exc


def slim(result_set: ResultSet) -> ResultSet:
    """The result set without timelines and histograms."""
    points = tuple(dataclasses.replace(p, timeline=(), histogram=None) for p in result_set.points)
    return dataclasses.replace(result_set, points=points)


def save_baseline(source: Path | str, dest: Path | str) -> Path:
    """Validate the results at `source` (a run directory or results.json) and store them
    at `dest` (a .json file; parent directories are created). Returns `dest`."""
    result_set = load_input(source, role="results to save")
    if not result_set.points:
        raise GateInputError(f"results to save: {source}: no points measured")
    target = Path(dest)
    if target.is_dir() or target.suffix != ".json":
        raise GateInputError(f"baseline: {target}: expected a file name ending in .json")
    text = json.dumps(slim(result_set).to_dict(), indent=2, allow_nan=False) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        tmp.replace(target)
    except OSError as exc:
        raise GateInputError(f"baseline: {target}: cannot write ({exc.strerror})") from exc
    return target
