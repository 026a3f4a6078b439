"""No module imports another module's private names (`from poolbench.gates.stats import
_u_counts` was one): a private name is its module's own, free to change. import-linter's
contracts see modules, not names, so this test guards the names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def private_imports(source: str, module: str) -> list[str]:
    """`module: from X import _name` for every private name imported from another module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("poolbench") or node.module == module:
                continue
            found += [
                f"{module}: from {node.module} import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in sorted((ROOT / "poolbench").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found += private_imports(path.read_text(), module)
    assert found == []


def test_the_check_sees_the_import_that_was_there() -> None:
    old = "from poolbench.gates.stats import _u_counts, exact_p\n"
    assert private_imports(old, "poolbench.compare.stats") == [
        "poolbench.compare.stats: from poolbench.gates.stats import _u_counts"
    ]
    assert private_imports("from poolbench.a import _x\n", "poolbench.a") == []
