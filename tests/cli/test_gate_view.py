"""The gate's terminal table on an 80-column terminal."""

from __future__ import annotations

import io

from rich.console import Console

from poolbench.cli.gate_view import comparison_table
from poolbench.gates.compare import compare
from tests.gates.factories import point, result_set

# scenarios/quick.yaml's two points: two swept parameters each.
QUICK = [
    point(workers=w, params={"consumer.workers": w, "consumer.buffer": 10 * w}) for w in (5, 10)
]


def _render(width: int) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    console.print(comparison_table(compare(result_set(QUICK), result_set(QUICK))))
    return out.getvalue().splitlines()


def test_a_point_label_is_never_folded_mid_parameter() -> None:
    lines = _render(80)
    assert all(len(line) <= 80 for line in lines)
    # Folded, it read `consumer.workers=10 ,`, the comma on a line of its own.
    assert not [line for line in lines if " ," in line or line.strip().startswith(",")]
    for label in (
        "consumer.workers=5, consumer.buffer=50",
        "consumer.workers=10, consumer.buffer=100",
    ):
        assert [line.strip() for line in lines].count(label) == 1
    rows = [line for line in lines if line.startswith("│ throughput")]
    assert len(rows) == 2 and all("100.0/s" in row and "within +-10%" in row for row in rows)
