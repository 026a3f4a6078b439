"""The consumer's private settings file: only its user can read it, never a planted one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from poolbench.run.consumers import write_private


def test_the_settings_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    folder = tmp_path / "poolbench-private-x"
    folder.mkdir(mode=0o755)
    path = folder / "consumer-0.settings.json"
    write_private(path, '{"smtp_password": "s3cret"}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert path.read_text() == '{"smtp_password": "s3cret"}'


def test_an_existing_file_or_link_there_is_refused_not_written_through(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("")
    os.symlink(elsewhere, folder / "consumer-0.settings.json")
    with pytest.raises(FileExistsError):
        write_private(folder / "consumer-0.settings.json", "secret")
    assert elsewhere.read_text() == ""
