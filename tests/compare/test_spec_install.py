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


def _git_repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_commit_that_cannot_be_imported_is_one_error_and_never_cached(tmp_path: Path) -> None:
    repo = _git_repo_with(tmp_path, {"poolbench/__init__.py": "raise ImportError('broken')\n"})
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"side A \(HEAD, [0-9a-f]{7}\) cannot be installed"):
        install_side("A", parse_spec("HEAD"), repo=repo, cache=cache, env={})
    # Nothing under the cache is marked ready, so the next compare installs it again.
    assert not list(cache.glob("*/ready"))
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.skipif(not _is_git_checkout(), reason="needs a git checkout")
def test_a_git_ref_installs_from_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """The user's case: poolbench and its libraries live in a venv, not in the base
    interpreter. A fresh venv sees this test run's libraries through a .pth file (as pip
    would have put them there), and installs HEAD for a compare from it: the ref's
    environment must import the consumer's libraries from that venv, not the base's."""
    import site
    import venv

    env_dir = tmp_path / "user-venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # This run's site folders stand in for the venv's own packages (plain paths: no .pth
    # of theirs, so the venv does not inherit an editable poolbench from them).
    dirs = [*site.getsitepackages(), str(ROOT)]
    Path(purelib, "user-libs.pth").write_text("\n".join(dirs) + "\n")
    script = (
        "import sys; from pathlib import Path\n"
        "from poolbench.compare.install import install_side\n"
        "from poolbench.compare.spec import parse_spec\n"
        f"side = install_side('A', parse_spec('HEAD'), repo=Path({str(ROOT)!r}),"
        f" cache=Path({str(tmp_path / 'cache')!r}), env={{}})\n"
        "import subprocess\n"
        "out = subprocess.run([side.python, '-c', 'import prometheus_client, confluent_kafka,"
        " poolbench.consumer.service; print(poolbench.consumer.service.__file__)'],"
        " env={'PYTHONPATH': str(side.pythonpath), 'PATH': '/usr/bin:/bin'},"
        " capture_output=True, text=True, check=True).stdout\n"
        "print(out.strip())\n"
    )
    done = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip().splitlines()[-1]).is_relative_to(tmp_path / "cache")


@pytest.mark.skipif(not _is_git_checkout(), reason="needs a git checkout")
def test_an_unknown_ref_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'no-such-ref' is not a commit of "):
        install_side("A", parse_spec("no-such-ref"), repo=ROOT, cache=tmp_path, env={})
