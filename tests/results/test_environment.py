"""Where a result was measured: poolbench's version beside the commit, and "none" for the
commit of a run made outside a git checkout (a pip or pipx install)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from poolbench import __version__
from poolbench.results.environment import Environment

ROOT = Path(__file__).resolve().parents[2]


def test_outside_a_checkout_the_commit_is_none_and_the_version_is_recorded(
    tmp_path: Path,
) -> None:
    env = Environment.capture(repo_dir=tmp_path)
    assert env.git_commit is None
    assert env.commit_label == "none"
    assert env.poolbench_version == __version__
    doc = env.to_dict()
    assert doc["git_commit"] is None
    assert doc["versions"]["poolbench"] == __version__


def test_in_a_checkout_the_commit_is_recorded() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    env = Environment.capture(repo_dir=ROOT)
    if head.returncode != 0:  # a source tree without .git
        assert env.commit_label == "none"
        return
    assert env.git_commit == head.stdout.strip()
    assert env.commit_label == env.git_commit
