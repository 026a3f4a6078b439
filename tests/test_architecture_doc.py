"""docs/architecture.md's layer list is the layers contract in pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _contract_layers() -> list[str]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c.get("id") == "layers"]
    assert layers["type"] == "layers"
    assert layers["containers"] == ["poolbench"]
    return [str(layer) for layer in layers["layers"]]


def _doc_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `([^`]+)`$", section, flags=re.MULTILINE)


def _normal(layer: str) -> list[str]:
    return sorted(part.strip() for part in layer.split("|"))


def test_the_doc_lists_the_contract_layers_in_order() -> None:
    contract = [_normal(layer) for layer in _contract_layers()]
    assert len(contract) >= 5
    assert [_normal(layer) for layer in _doc_layers()] == contract


def test_every_package_of_poolbench_is_in_a_layer() -> None:
    named = {part for layer in _contract_layers() for part in _normal(layer)}
    package = ROOT / "poolbench"
    modules = {
        p.name if p.is_dir() else p.stem
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and not p.name.startswith("__"))
    }
    assert modules == named
