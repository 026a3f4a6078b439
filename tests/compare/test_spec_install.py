"""SPEC parsing, and a git ref installed into its own cached venv (no network)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from poolbench.compare.install import install_side
from poolbench.compare.session import side_points, unknown_fields
from poolbench.compare.spec import parse_env, parse_spec
from poolbench.errors import ConfigError
from poolbench.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_spec_forms(tmp_path: Path) -> None:
    assert parse_spec("command:./svc --workers {workers}").kind == "command"
    assert parse_spec("command:./svc --workers {workers}").value == "./svc --workers {workers}"
    assert parse_spec(str(ROOT)).kind == "path"
    assert parse_spec("HEAD~1").kind == "git"
    with pytest.raises(ConfigError, match="no poolbench"):
        parse_spec(str(tmp_path))
    with pytest.raises(ConfigError):
        parse_spec("command:")
    with pytest.raises(ConfigError):
        parse_spec("")


def test_env_items() -> None:
    assert parse_env(["A=1", "B=x=y"], what="--b-env") == {"A": "1", "B": "x=y"}
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_env(["nope"], what="--b-env")


def _is_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.skipif(not _is_git_checkout(), reason="needs a git checkout")
def test_git_ref_is_installed_once_and_probed(tmp_path: Path) -> None:
    spec = parse_spec("HEAD")
    side = install_side("A", spec, repo=ROOT, cache=tmp_path, env={})
    assert side.commit is not None and len(side.commit) == 40
    assert side.pythonpath == tmp_path / side.commit / "src"
    assert Path(side.python).is_relative_to(tmp_path / side.commit / "venv")
    assert side.fields is not None and "workers" in side.fields
    assert unknown_fields(side) == []  # HEAD knows every field of HEAD (if committed)
    again = install_side("B", spec, repo=ROOT, cache=tmp_path, env={"X": "1"})
    assert again.python == side.python and again.env == {"X": "1"}


def test_a_side_that_knows_fewer_fields_is_told(tmp_path: Path) -> None:
    side = install_side("B", parse_spec(str(ROOT)), repo=ROOT, cache=tmp_path, env={})
    assert side.fields is not None
    older = dataclasses.replace(side, fields=side.fields - {"debug_delay_s"})
    assert unknown_fields(older) == ["debug_delay_s"]


def test_side_points_carry_the_sides_command_and_env() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quick.yaml")
    side = install_side(
        "B",
        parse_spec("command:./svc {workers}"),
        repo=ROOT,
        cache=Path("/nonexistent"),
        env={"POOLBENCH_DEBUG_DELAY": "2ms"},
    )
    points = side_points(scenario, side)
    assert len(points) == 2
    for point in points:
        assert point.repeat == 0
        assert point.scenario.consumer.command == "./svc {workers}"
        assert point.scenario.consumer.env["POOLBENCH_DEBUG_DELAY"] == "2ms"
