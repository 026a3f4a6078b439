"""Shipped scenarios: `quick` names scenarios/quick.yaml from any folder, the package's
copy is the top-level folder itself (no second copy to drift), and `poolbench init`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from poolbench import __version__
from poolbench.errors import ScenarioError
from poolbench.scenario import load_scenario
from poolbench.scenario.shipped import SHIPPED_DIR, init_folder, resolve_scenario, shipped_files

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def test_the_package_ships_the_top_level_scenarios_folder_itself() -> None:
    """One copy: the package's folder is a link to scenarios/, so they cannot differ."""
    assert SHIPPED_DIR.is_symlink()
    assert SHIPPED_DIR.resolve() == SCENARIOS.resolve()
    assert os.readlink(SHIPPED_DIR) == "../scenarios"  # relative: survives a clone
    assert {p.name for p in shipped_files().values()} == {p.name for p in SCENARIOS.glob("*.yaml")}
    assert "quick" in shipped_files()


def test_a_bare_name_is_a_shipped_scenario_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_scenario("quick") == shipped_files()["quick"]
    assert resolve_scenario("quick.yaml") == shipped_files()["quick"]
    assert load_scenario("quick").name == "quick"
    # A file of that name where the user is wins over the shipped one.
    (tmp_path / "quick.yaml").write_text("name: mine\n")
    assert resolve_scenario("quick.yaml") == Path("quick.yaml")
    # A path with a folder is never replaced by a shipped scenario.
    assert resolve_scenario("elsewhere/quick.yaml") == Path("elsewhere/quick.yaml")


def test_an_unknown_bare_name_lists_the_shipped_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as caught:
        load_scenario("quik")
    message = str(caught.value)
    assert message.startswith("quik: no such scenario file, nor a shipped scenario")
    assert "quick" in message and "faults" in message
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("elsewhere/quick.yaml")


def test_init_writes_every_shipped_scenario_and_a_readme(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    written = init_folder(folder, version="9.9")
    assert folder / "README.md" in written
    for name, source in shipped_files().items():
        copy = folder / "scenarios" / f"{name}.yaml"
        assert copy.read_bytes() == source.read_bytes()
        assert load_scenario(copy).name == load_scenario(source).name
    assert len(written) == len(shipped_files()) + 1
    readme = (folder / "README.md").read_text()
    assert "poolbench 9.9" in readme
    assert "poolbench run scenarios/quick.yaml" in readme


def test_init_replaces_nothing_without_force(tmp_path: Path) -> None:
    init_folder(tmp_path, version=__version__)
    mine = tmp_path / "scenarios" / "quick.yaml"
    mine.write_text("name: edited\n")
    with pytest.raises(ScenarioError, match=r"would replace .*quick\.yaml.*README\.md"):
        init_folder(tmp_path, version=__version__)
    assert mine.read_text() == "name: edited\n"
    init_folder(tmp_path, version=__version__, force=True)
    assert mine.read_bytes() == shipped_files()["quick"].read_bytes()


def _poolbench(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "poolbench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_init_command_then_validate_by_name_from_an_empty_folder(tmp_path: Path) -> None:
    done = _poolbench(tmp_path, "init", "bench")
    assert done.returncode == 0, done.stderr
    assert "bench/scenarios/quick.yaml" in done.stdout.splitlines()
    again = _poolbench(tmp_path, "init", "bench")
    assert again.returncode == 2
    assert len(again.stderr.splitlines()) == 1, again.stderr
    assert "--force" in again.stderr
    shown = _poolbench(tmp_path, "validate", "smoke")
    assert shown.returncode == 0, shown.stderr
    assert "smoke: valid, 1 point(s) to run" in shown.stdout
