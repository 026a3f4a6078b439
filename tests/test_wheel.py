"""What a `pip install poolbench` user gets: the built wheel, installed into a fresh
virtual environment, runs a shipped scenario by name from an empty folder (no checkout,
no PYTHONPATH), and `poolbench init` writes the scenarios out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from poolbench import __version__

ROOT = Path(__file__).resolve().parents[1]


def _check(args: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("POOLBENCH_")
    }
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_runs_a_shipped_scenario_from_an_empty_folder(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _check(
        [sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", dist], tmp_path, 300
    )
    (wheel,) = dist.glob("poolbench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("poolbench/shipped_scenarios/")
        }
    # The wheel carries the top-level scenarios/ as they are: the same files, same bytes.
    assert shipped == {p.name: p.read_bytes() for p in (ROOT / "scenarios").glob("*.yaml")}

    venv = tmp_path / "venv"
    _check([sys.executable, "-m", "venv", venv], tmp_path, 120)
    _check([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], tmp_path, 400)
    empty = tmp_path / "empty"
    empty.mkdir()
    poolbench = venv / "bin" / "poolbench"
    done = _check([poolbench, "run", "smoke", "--out", "out"], empty, 180)
    assert "commit none" in done.stdout  # no checkout here, and nothing unknown about it
    (results,) = (empty / "out").rglob("results.json")
    doc = json.loads(results.read_text())
    assert doc["scenario_name"] == "smoke"
    assert doc["environment"]["git_commit"] is None
    assert doc["environment"]["versions"]["poolbench"] == __version__
    (point,) = doc["points"]
    assert point["produced"] > 0
    assert point["delivered"] == point["produced"]
    assert point["lost"] == 0

    _check([poolbench, "init", "bench"], empty, 60)
    _check([poolbench, "validate", "scenarios/quick.yaml"], empty / "bench", 60)
