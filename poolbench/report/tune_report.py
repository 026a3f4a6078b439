"""Write what a `poolbench tune` session found: tune.md, tune.json, tune.png, results.json.

`results.json` holds every measured point in the runner's format (params: the probe's
workers, buffer, load and index), so `poolbench report` and `poolbench show` read it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from poolbench.report.tune_chart import tune_chart
from poolbench.results import Environment, ResultSet, save
from poolbench.tune.session import TuneOutcome
from poolbench.tune.writeup import render_markdown, to_dict

MARKDOWN_FILE: Final = "tune.md"
JSON_FILE: Final = "tune.json"
CHART_FILE: Final = "tune.png"


@dataclass(frozen=True, slots=True, kw_only=True)
class TuneFiles:
    markdown: Path
    json: Path
    chart: Path | None
    results: Path | None


def write_tune_report(outcome: TuneOutcome, directory: Path | str) -> TuneFiles:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    rec = outcome.recommendation
    chart = tune_chart(rec, target / CHART_FILE) if rec.probes else None
    markdown = target / MARKDOWN_FILE
    markdown.write_text(render_markdown(rec, chart=chart.name if chart else None))
    data = {"scenario": outcome.base.to_dict(), **to_dict(rec)}
    json_file = target / JSON_FILE
    json_file.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    results = None
    if outcome.points:
        result_set = ResultSet(
            scenario_name=outcome.base.name,
            scenario=outcome.base.to_dict(),
            scenario_hash=outcome.base.scenario_hash,
            environment=Environment.capture(),
            points=outcome.points,
        )
        results = save(result_set, target)
    return TuneFiles(markdown=markdown, json=json_file, chart=chart, results=results)
