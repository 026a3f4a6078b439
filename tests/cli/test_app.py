import subprocess
import sys

import pytest
import typer

from poolbench.cli import exit_codes
from poolbench.cli.app import run_app
from poolbench.errors import BrokerError, ConfigError, GateInputError, RunError, UnreachableError
from tests.cli.run import poolbench


def _app_raising(exc: Exception) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:  # a second command keeps typer from flattening the app
        pass

    return app


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("must be at least 1", where="--workers", got=0), exit_codes.USAGE),
        (UnreachableError("no broker at 127.0.0.1:1"), exit_codes.USAGE),
        (BrokerError("cannot create topic t"), exit_codes.USAGE),
        (GateInputError("no baseline"), exit_codes.USAGE),
        (RunError("SMTP sink process 0 died while starting"), exit_codes.CHECK_FAILED),
    ],
)
def test_each_error_is_one_line_and_its_exit_code(
    exc: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_app(_app_raising(exc), ["boom"])
    assert exit_info.value.code == code
    assert capsys.readouterr().err == f"poolbench: error: {exc}\n"


def test_a_structured_error_is_printed_at_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    error = ConfigError(what="workers", expected="an integer >= 1", got="ten").at("--workers")
    with pytest.raises(SystemExit):
        run_app(_app_raising(error), ["boom"])
    assert capsys.readouterr().err == (
        "poolbench: error: --workers: expected an integer >= 1, got 'ten'\n"
    )


def test_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run_app(_app_raising(ZeroDivisionError("bug")), ["boom"])


def test_help_and_version_run_as_a_process() -> None:
    help_run = subprocess.run(
        [sys.executable, "-m", "poolbench", "--help"], capture_output=True, text=True, check=False
    )
    assert help_run.returncode == exit_codes.OK
    assert "Usage" in help_run.stdout
    version_run = subprocess.run(
        [sys.executable, "-m", "poolbench", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert version_run.returncode == exit_codes.OK
    assert version_run.stdout.startswith("poolbench ")


def test_bad_log_level_is_a_usage_error() -> None:
    run = poolbench("--log-level", "LOUD", "validate", "scenarios/quick.yaml")
    assert run.returncode == exit_codes.USAGE, run.stderr
    assert "--log-level" in run.stderr
    assert "LOUD" in run.stderr


def test_help_paragraphs_flow_at_the_terminal_width_not_the_source_width() -> None:
    from tests.cli.run import poolbench

    result = poolbench("run", "--help")  # COLUMNS=100
    lines = [line.strip() for line in result.stdout.splitlines()]
    # One sentence, 93 characters: it fits, so no line break cuts it.
    assert (
        "Writes results.json, results.csv, report.md, report.html and charts, then prints "
        "the folder." in lines
    )
