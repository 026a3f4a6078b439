"""The scenarios that ship with poolbench: `poolbench run quick` from any folder.

They are the repository's top-level `scenarios/*.yaml`, the files users see and edit in a
checkout; `poolbench/shipped_scenarios` is a link to that folder, so the wheel carries
them as files of the package without a second copy to drift (pyproject.toml's
package-data). `poolbench init DIR` writes them out (cli/init.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from poolbench.errors import ScenarioError

SHIPPED_DIR: Final = Path(__file__).resolve().parent.parent / "shipped_scenarios"
SUFFIX: Final = ".yaml"


def shipped_files() -> dict[str, Path]:
    """Every shipped scenario by name (`quick` -> .../quick.yaml), sorted by name."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob(f"*{SUFFIX}"))}


def resolve_scenario(path: Path | str) -> Path:
    """`path` itself when it exists or names a folder; otherwise the shipped scenario of
    that name (`quick` or `quick.yaml`). A bare name that is neither is an error listing
    the shipped names; a missing path with a folder is left to the reader's message."""
    given = Path(path)
    if given.exists() or len(given.parts) != 1:
        return given
    name = given.name.removesuffix(SUFFIX)
    shipped = shipped_files()
    if name in shipped:
        return shipped[name]
    names = ", ".join(shipped) or "none"
    raise ScenarioError(
        f"no such scenario file, nor a shipped scenario of that name (shipped: {names})",
        path=str(path),
    )


README_STUB: Final = """\
# poolbench scenarios

Written by `poolbench init` (poolbench {version}): the scenarios that ship with
poolbench, to copy and edit. Each file is one experiment: the broker and topic, the
fake SMTP server (`sink`: latency, faults, outages), the consumer's settings, the load,
a sweep over any of those, and the gates a run must pass.

```bash
poolbench validate scenarios/quick.yaml   # check a file, list its points, estimate its time
poolbench run scenarios/quick.yaml        # run it: results/<name>/<time>/
poolbench run quick                       # the shipped original, from any folder
```

Every key of the scenario format, with its default, and every command are described
in poolbench's README. Scenarios that name a program of poolbench's repository
(`seed-table-go` runs examples/go-service) need a checkout of it.

## Notes

<!-- EDIT: what you measure here, on which machine, and why. -->
"""


def init_folder(folder: Path, *, version: str, force: bool = False) -> list[Path]:
    """Write every shipped scenario to `folder/scenarios/` and a README stub to
    `folder/README.md`; returns the files written. Nothing is written when a file would
    be replaced without `force` (the error names them all)."""
    targets = {folder / "scenarios" / path.name: path for path in shipped_files().values()}
    readme = folder / "README.md"
    if not targets:
        raise ScenarioError("this installation of poolbench ships no scenarios", path=str(folder))
    existing = [path for path in (*targets, readme) if path.exists()]
    if folder.exists() and not folder.is_dir():
        raise ScenarioError("is a file, not a folder", path=str(folder))
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise ScenarioError(f"would replace {names} (--force replaces them)", path=str(folder))
    (folder / "scenarios").mkdir(parents=True, exist_ok=True)
    written = []
    for target, source in targets.items():
        target.write_bytes(source.read_bytes())
        written.append(target)
    readme.write_text(README_STUB.format(version=version))
    written.append(readme)
    return written
