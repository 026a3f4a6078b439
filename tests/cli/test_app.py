import subprocess
import sys

import pytest
import typer

from poolbench.cli.app import EXIT_USER_ERROR, run_app
from poolbench.errors import ConfigError


def _app_raising(exc: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:  # a second command keeps typer from flattening the app
        pass

    return app


def test_user_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_app(_app_raising(ConfigError("--workers: must be at least 1, got 0")), ["boom"])
    assert exit_info.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == "poolbench: error: --workers: must be at least 1, got 0\n"


def test_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run_app(_app_raising(ZeroDivisionError("bug")), ["boom"])


def test_help_and_version_run_as_a_process() -> None:
    help_run = subprocess.run(
        [sys.executable, "-m", "poolbench", "--help"], capture_output=True, text=True, check=False
    )
    assert help_run.returncode == 0
    assert "Usage" in help_run.stdout
    version_run = subprocess.run(
        [sys.executable, "-m", "poolbench", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert version_run.returncode == 0
    assert version_run.stdout.startswith("poolbench ")


def test_bad_log_level_is_a_usage_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "poolbench", "--log-level", "LOUD", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    # --help is eager and wins; a real subcommand would see the bad level.
    assert run.returncode == 0
