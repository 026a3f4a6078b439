"""Gate evaluation: the whitelisted AST walker against `eval` of compiled code."""

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from poolbench.gate_expr import parse_gate
from tests import synthetic

GATE = "(throughput - ideal) / ideal >= -0.05"


@pytest.mark.benchmark(group="gate-eval")
def test_gate_evaluate(benchmark: BenchmarkFixture) -> None:
    values = synthetic.seed_table().points[2].metrics()
    gate = parse_gate(GATE)
    outcome = benchmark(gate.evaluate, values)
    assert outcome.passed == eval(GATE, {"__builtins__": {}}, values)


@pytest.mark.benchmark(group="gate-eval")
def test_baseline_eval_compiled(benchmark: BenchmarkFixture) -> None:
    values = synthetic.seed_table().points[2].metrics()
    code = compile(GATE, "<gate>", "eval")
    result = benchmark(eval, code, {"__builtins__": {}}, values)
    assert isinstance(result, bool)


@pytest.mark.benchmark(group="gate-parse")
def test_gate_parse(benchmark: BenchmarkFixture) -> None:
    gate = benchmark(parse_gate, GATE)
    assert gate.names == {"throughput", "ideal"}


@pytest.mark.benchmark(group="gate-parse")
def test_baseline_compile(benchmark: BenchmarkFixture) -> None:
    code = benchmark(compile, GATE, "<gate>", "eval")
    assert code.co_names
