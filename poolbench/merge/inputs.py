"""Reading shard directories: every file is recognised by its content, never by its name.

A directory given to `poolbench merge` may hold, in any mix:
- shard manifests (`*.manifest.json`, see `manifest`);
- load-generator reports (`poolbench produce --report`: JSON with `id_prefix` and
  `start_wall_ns`);
- consumer summaries (`poolbench consume --summary-json`: JSON with `consumed`, `sent`
  and `dead_lettered`);
- already measured results (`results.json`, schema version 2);
- sink ledgers (`poolbench sink --record`: JSON lines of `Receipt`, any file name ending
  in `.jsonl`, or a multi-process sink's `.jsonl.partN` parts).
A `.json` file that is none of these is refused, naming it, so a misplaced file is not
silently left out of the merge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poolbench.errors import ConfigError, LocatedError
from poolbench.loadgen.report import LoadReport
from poolbench.merge.manifest import ShardManifest, is_manifest, manifest_from_dict
from poolbench.results import ResultSet, load
from poolbench.sink.ledger import read_ledger
from poolbench.sink.receipt import Receipt

_SUMMARY_KEYS = frozenset({"consumed", "sent", "dead_lettered"})
_REPORT_KEYS = frozenset({"id_prefix", "start_wall_ns", "produced", "spec"})


class MergeError(LocatedError):
    """Shard outputs that cannot be merged; the message names the file."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadInput:
    path: Path
    report: LoadReport
    manifest: ShardManifest | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerInput:
    path: Path
    receipts: tuple[Receipt, ...]
    manifest: ShardManifest | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryInput:
    path: Path
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultsInput:
    path: Path
    result_set: ResultSet


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """Everything found in the directories, each with the file it came from."""

    manifests: tuple[tuple[Path, ShardManifest], ...] = ()
    loads: tuple[LoadInput, ...] = ()
    ledgers: tuple[LedgerInput, ...] = ()
    summaries: tuple[SummaryInput, ...] = ()
    results: tuple[ResultsInput, ...] = ()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise MergeError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise MergeError(f"not valid JSON ({exc.msg}, line {exc.lineno})", path=str(path)) from exc


def _ledger_path(path: Path) -> Path | None:
    """The `--record` path a ledger file belongs to (a part maps to its whole)."""
    if path.name.endswith(".jsonl"):
        return path
    stem, dot, part = path.name.rpartition(".part")
    if dot and stem.endswith(".jsonl") and part.isdigit():
        return path.with_name(stem)
    return None


def read_dirs(directories: Sequence[Path]) -> Inputs:
    """Read every shard output in `directories` (see the module doc)."""
    manifests: list[tuple[Path, ShardManifest]] = []
    reports: list[tuple[Path, LoadReport]] = []
    summaries: list[SummaryInput] = []
    results: list[ResultsInput] = []
    ledger_paths: dict[Path, None] = {}
    for directory in directories:
        if not directory.is_dir():
            raise MergeError("not a directory", path=str(directory))
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            if path.name.startswith("."):
                continue
            ledger = _ledger_path(path)
            if ledger is not None:
                ledger_paths.setdefault(ledger)
                continue
            if path.suffix != ".json":
                continue
            doc = _read_json(path)
            if is_manifest(doc):
                manifests.append((path, manifest_from_dict(doc, path=str(path))))
            elif isinstance(doc, dict) and "schema_version" in doc and "points" in doc:
                results.append(ResultsInput(path=path, result_set=load(path)))
            elif isinstance(doc, dict) and set(doc) >= _REPORT_KEYS:
                try:
                    reports.append((path, LoadReport.from_dict(doc)))
                except (TypeError, KeyError, ValueError) as exc:
                    raise MergeError(f"not a load report: {exc}", path=str(path)) from exc
            elif isinstance(doc, dict) and set(doc) >= _SUMMARY_KEYS:
                summaries.append(SummaryInput(path=path, summary=doc))
            else:
                raise MergeError(
                    "neither a shard manifest, a load report, a consumer summary nor a "
                    "results.json",
                    path=str(path),
                )
    by_output = {(path.parent, m.output): m for path, m in manifests}
    loads = tuple(
        LoadInput(path=path, report=report, manifest=by_output.get((path.parent, path.name)))
        for path, report in reports
    )
    ledgers = []
    for path in ledger_paths:
        try:
            receipts = tuple(read_ledger(path))
        except ConfigError as exc:
            raise MergeError(str(exc), path=str(path)) from exc
        ledgers.append(
            LedgerInput(
                path=path, receipts=receipts, manifest=by_output.get((path.parent, path.name))
            )
        )
    return Inputs(
        manifests=tuple(manifests),
        loads=loads,
        ledgers=tuple(ledgers),
        summaries=tuple(summaries),
        results=tuple(results),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetters:
    by_id: Mapping[str, str] = field(default_factory=dict)  # id -> the consumer's reason
    without_id: int = 0
    other_runs: int = 0  # letters whose id no load shard of this run produced
    topic: str = ""


def split_by_run(letters: DeadLetters, prefixes: Iterable[str]) -> DeadLetters:
    """Only the letters of this run (ids with one of its load shards' prefixes)."""
    chosen = tuple(prefixes)
    mine = {i: why for i, why in letters.by_id.items() if i.startswith(chosen)}
    return DeadLetters(
        by_id=mine,
        without_id=letters.without_id,
        other_runs=len(letters.by_id) - len(mine),
        topic=letters.topic,
    )
