import pytest

from poolbench.cli import edge, exit_codes
from poolbench.errors import ConfigError, PoolError, RunError, ScenarioError


def test_a_library_error_is_located_at_the_flag() -> None:
    with pytest.raises(ConfigError) as caught, edge.flag("--max-p99-rise"):
        raise ConfigError(expected="a percentage like '10%'", got="lots")
    assert str(caught.value) == "--max-p99-rise: expected a percentage like '10%', got 'lots'"
    assert caught.value.got == "lots"


def test_an_error_that_knows_where_it_came_from_is_left_alone() -> None:
    located = ScenarioError("must be at least 1", path="s.yaml", key="consumer.workers")
    with pytest.raises(ScenarioError) as caught, edge.flag("--scenario"):
        raise located
    assert caught.value is located


def test_report_prints_one_line_and_returns_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert edge.report(RunError("sink died")) == exit_codes.CHECK_FAILED
    assert capsys.readouterr().err == "poolbench: error: sink died\n"


def test_an_error_without_an_exit_code_is_a_bug_and_is_raised() -> None:
    bug = PoolError("the pool's own invariant broke")
    assert exit_codes.for_error(bug) is None
    with pytest.raises(PoolError):
        edge.report(bug)


def test_a_field_is_shown_at_its_flag_and_so_are_the_fields_it_names() -> None:
    flags = {"backlog": "--backlog", "group": "--group"}
    error = ConfigError("needs {group} to watch", what="backlog", related=("group",), got=5)
    assert str(error) == "needs group to watch, got 5"  # the library's own names
    with pytest.raises(ConfigError) as caught, edge.fields(flags):
        raise error
    assert str(caught.value) == "--backlog: needs --group to watch, got 5"
    unknown = ConfigError("must be positive", what="timeout", got=0)
    with pytest.raises(ConfigError) as passed, edge.fields(flags):
        raise unknown
    assert passed.value is unknown
