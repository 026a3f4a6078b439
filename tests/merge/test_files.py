from __future__ import annotations

import json
from pathlib import Path

import pytest

from poolbench.merge.inputs import MergeError, read_dirs
from poolbench.merge.manifest import (
    CLOCK_OFFSET_ENV,
    clock_offset_from_env,
    make_manifest,
    manifest_path,
    write_manifest,
)
from poolbench.metrics.clock import ClockPair
from poolbench.results import load, save
from tests.cli.run import poolbench
from tests.merge import factories


def _write_shards(root: Path, *, loads: int = 2, sinks: int = 2) -> list[Path]:
    """The synthetic inputs laid out as shard folders, the way the commands write them."""
    inputs = factories.inputs(loads=loads, sinks=sinks)
    dirs = []
    for item in inputs.loads:
        d = root / item.path.parent.name
        d.mkdir()
        (d / "load.json").write_text(item.report.to_json() + "\n")
        assert item.manifest is not None
        (d / "load.manifest.json").write_text(json.dumps(item.manifest.to_dict()))
        dirs.append(d)
    for ledger, summary in zip(inputs.ledgers, inputs.summaries, strict=True):
        d = root / ledger.path.parent.name
        d.mkdir()
        (d / "sink.jsonl").write_text("".join(r.to_json() + "\n" for r in ledger.receipts))
        assert ledger.manifest is not None
        (d / "sink.manifest.json").write_text(json.dumps(ledger.manifest.to_dict()))
        (d / "summary.json").write_text(json.dumps(summary.summary))
        dirs.append(d)
    return dirs


def test_shard_folders_are_read_by_content(tmp_path: Path) -> None:
    dirs = _write_shards(tmp_path)
    inputs = read_dirs(dirs)
    assert len(inputs.loads) == 2
    assert len(inputs.ledgers) == 2
    assert len(inputs.summaries) == 2
    assert len(inputs.manifests) == 4
    assert all(item.manifest is not None for item in inputs.loads)
    assert sum(len(ledger.receipts) for ledger in inputs.ledgers) == 200


def test_an_unknown_json_file_is_refused_by_name(tmp_path: Path) -> None:
    dirs = _write_shards(tmp_path)
    stray = dirs[0] / "notes.json"
    stray.write_text('{"hello": 1}')
    with pytest.raises(MergeError) as err:
        read_dirs(dirs)
    assert str(err.value).startswith(f"{stray}: neither a shard manifest")


def test_manifest_round_trip_and_clock_offset_from_the_environment(tmp_path: Path) -> None:
    output = tmp_path / "load.json"
    m = make_manifest(
        role="load",
        shard=1,
        shards=3,
        output=output,
        params={"rate": "200/s"},
        start_at_ns=5,
        clock_pair=ClockPair(wall_ns=1_800_000_000_000_000_000, monotonic_ns=7_000_000_000),
        environ={
            CLOCK_OFFSET_ENV: "-0.4ms",
            "POOLBENCH_CLOCK_SOURCE": "chrony",
            "POOLBENCH_RUN_ID": "run-7",
        },
    )
    assert (m.clock_offset_ns, m.clock_source, m.run_id) == (-400_000, "chrony", "run-7")
    assert m.format == 2
    written = write_manifest(m, output)
    assert written == manifest_path(output) == tmp_path / "load.manifest.json"
    output.write_text(factories.load_report(1, 3, produced=0).to_json())
    (read,) = read_dirs([tmp_path]).manifests
    assert read[1] == m
    assert read[1].clock_pair == ClockPair(
        wall_ns=1_800_000_000_000_000_000, monotonic_ns=7_000_000_000
    )
    assert clock_offset_from_env({}) == (None, None)


def test_merge_command_writes_one_results_json(tmp_path: Path) -> None:
    dirs = _write_shards(tmp_path)
    out = tmp_path / "merged"
    done = poolbench("merge", *dirs, "--out", out, "--workers", "5")
    assert done.returncode == 0, done.stderr
    assert "produced 200, delivered 200, lost 0, duplicates 0" in done.stdout
    (point,) = load(out).points
    assert (point.produced, point.delivered, point.lost) == (200, 200, 0)
    assert point.params["workers"] == 5
    # A merged results.json merges again, with another shard's.
    again = tmp_path / "again"
    save(load(out), again / "b")
    save(load(out), again / "c")
    done = poolbench("merge", again / "b", again / "c", "--out", again / "out")
    assert done.returncode == 0, done.stderr
    assert load(again / "out").points[0].produced == 400


def test_merge_command_refuses_in_one_line_naming_the_file(tmp_path: Path) -> None:
    dirs = _write_shards(tmp_path)
    manifest = dirs[1] / "load.manifest.json"
    doc = json.loads(manifest.read_text())
    doc["params_hash"] = "f" * 64
    manifest.write_text(json.dumps(doc))
    done = poolbench("merge", *dirs, "--out", tmp_path / "merged")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"poolbench: error: {manifest}: load shard 1/2 was run with other")
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["produce", "--bootstrap-servers", "127.0.0.1:1", "--count", "1", "--shard", "0/3"],
            "poolbench: error: --shard: needs a report file, which poolbench merge reads",
        ),
        (
            [
                "produce",
                "--bootstrap-servers",
                "127.0.0.1:1",
                "--count",
                "1",
                "--shard",
                "3/3",
                "--report",
                "r.json",
            ],
            "poolbench: error: --shard: shard index must be within 0..2 for 3 shards, got '3/3'",
        ),
        (
            ["produce", "--bootstrap-servers", "127.0.0.1:1", "--count", "1", "--shard", "x"],
            "poolbench: error: --shard: expected I/N, e.g. 0/3 (shard 0 of 3), got 'x'",
        ),
        (
            ["sink", "--port", "0", "--shard", "0/2"],
            "poolbench: error: --shard: needs a record file, which poolbench merge reads",
        ),
    ],
)
def test_bad_shard_flags_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = poolbench(*args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]
