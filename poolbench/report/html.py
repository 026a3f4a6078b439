"""report.html: the whole report in one self-contained file.

The charts are embedded as `data:` URIs, the style and the table's sorting are inline
(a few lines of JavaScript, no CDN, nothing fetched), so the file can be mailed, attached
to a CI run or opened from disk. The only links leave the file for the consumer logs kept
in the run's folder.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Final

from poolbench.report.faults import point_gaps
from poolbench.report.summary import (
    BUDGET_HEADER,
    CPU_HEADER,
    FAILED,
    LOST,
    gate_rows,
    headline_words,
    run_status,
    run_status_line,
    summary_table,
)
from poolbench.results import ResultSet

# Sort a column by clicking its header (again: the other way). Cells sort by their
# leading number ("1,067 ms", "92% of 250/s"), text otherwise; "n/a" always last.
_SORT_JS: Final = """
(function () {
  "use strict";
  function key(cell) {
    var text = cell.textContent.trim();
    if (text === "n/a" || text === "") { return null; }
    var number = parseFloat(text.replace(/,/g, ""));
    return isNaN(number) ? text.toLowerCase() : number;
  }
  function compare(a, b) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a === typeof b) { return a < b ? -1 : (a > b ? 1 : 0); }
    return typeof a === "number" ? -1 : 1;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var x = key(r.cells[column]), y = key(s.cells[column]);
          if (x === null || y === null) { return compare(x, y); }
          return ascending ? compare(x, y) : compare(y, x);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
}());
"""

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #1a1a1a; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.status { padding: .6em 1em; border-radius: 4px; background: #fde2e1; color: #8a1c17;
          font-weight: bold; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .2em .35em; text-align: right;
         white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; vertical-align: bottom; max-width: 7em; }
table { font-size: .85em; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #999; }
table.sortable th[aria-sort=ascending]::after { content: " \\2191"; color: #000; }
table.sortable th[aria-sort=descending]::after { content: " \\2193"; color: #000; }
tr.flagged td { background: #fff4f4; }
td.FAILED, td.LOST { color: #b00; font-weight: bold; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-weight: bold; margin-bottom: .3em; }
ul.notes li { margin: .3em 0; }
"""

# Long cells go under the table, as in the terminal.
_BELOW: Final = ("Warnings", BUDGET_HEADER, CPU_HEADER)


def render_html(
    result_set: ResultSet,
    charts: Sequence[tuple[str, bytes]],
    *,
    logs: Mapping[int, Sequence[tuple[str, str]]] | None = None,
    title: Callable[[str], str] = lambda name: name,
) -> str:
    """The page; `charts` holds (file name, PNG bytes), `logs` (name, relative link) per
    point number."""
    name = escape(result_set.scenario_name)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>poolbench: {name}</title>",
        f"<style>{_STYLE}</style>",
        # No request leaves the page: a favicon lookup would log a console error from disk.
        '<link rel="icon" href="data:,">',
        "</head>",
        "<body>",
        f"<h1>poolbench: {name}</h1>",
    ]
    status = run_status_line(result_set)
    if status is not None:
        marker = run_status(result_set) or ""
        parts.append(f'<p class="status" data-status="{marker}">{escape(status)}.</p>')
    description = str(result_set.scenario.get("description") or "").strip()
    if description:
        parts.append(f"<p>{escape(description)}</p>")
    parts.append("<h2>Results</h2>")
    if result_set.points:
        parts += _table(result_set)
        parts.append(
            "<p>Throughput: distinct emails received at the sink in the steady-state window "
            f"per second. {escape(headline_words(result_set))} Ideal = min(workers / mean "
            "sink latency, offered rate). n/a: not measured (never read as 0). Click a "
            "column header to sort.</p>"
        )
    else:
        parts.append("<p>No point was measured.</p>")
    parts += _notes(result_set)
    parts += _logs(logs or {})
    gates = gate_rows(result_set)
    if gates:
        parts.append('<h2>Gates</h2><table id="gates"><thead><tr>')
        parts += [f"<th>{h}</th>" for h in ("Point", "Gate", "Verdict", "Measured")]
        parts.append("</tr></thead><tbody>")
        for g in gates:
            verdict = escape(g.verdict)
            if g.verdict != "passed":
                verdict = f"<strong>{verdict}</strong>"
            parts.append(
                f'<tr data-verdict="{escape(g.verdict)}"><td>{g.point} ({escape(g.params)})</td>'
                f"<td><code>{escape(g.gate)}</code></td><td>{verdict}</td>"
                f"<td>{escape(g.measured)}</td></tr>"
            )
        parts.append("</tbody></table>")
    if charts:
        parts.append("<h2>Charts</h2>")
        for file_name, png in charts:
            data = base64.b64encode(png).decode("ascii")
            caption = escape(title(file_name))
            parts.append(
                f'<figure id="{escape(file_name)}"><figcaption>{caption}</figcaption>'
                f'<img alt="{caption}" src="data:image/png;base64,{data}"></figure>'
            )
    parts += _environment(result_set)
    parts += [f"<script>{_SORT_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _table(result_set: ResultSet) -> list[str]:
    summary = summary_table(result_set)
    keep = [i for i, h in enumerate(summary.headers) if h not in _BELOW]
    out = ['<div class="scroll"><table class="sortable" id="results">', "<thead><tr>"]
    out += [f"<th>{escape(summary.headers[i])}</th>" for i in keep]
    out.append("</tr></thead><tbody>")
    status_column = summary.headers.index("Status")
    for row, flagged in zip(summary.rows, summary.flagged, strict=True):
        css = ' class="flagged"' if flagged else ""
        cells = []
        for i in keep:
            cell = row[i]
            cls = f' class="{cell}"' if i == status_column and cell in (FAILED, LOST) else ""
            cells.append(f"<td{cls}>{escape(cell)}</td>")
        out.append(f"<tr{css}>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return out


def _notes(result_set: ResultSet) -> list[str]:
    """Per point: errors, losses, warnings, where the send time went, gaps explained."""
    summary = summary_table(result_set)
    items = []
    for number, (point, row) in enumerate(zip(result_set.points, summary.rows, strict=True), 1):
        by_header = dict(zip(summary.headers, row, strict=True))
        params = ", ".join(f"{k}={v}" for k, v in point.params.items()) or "the only point"
        notes = []
        if point.error is not None and not any(w.startswith("error:") for w in point.warnings):
            notes.append(f"error: {point.error}")
        if point.has_losses:
            notes.append(f"LOST {point.lost} of {point.produced} emails")
        notes += list(point.warnings)
        notes += [cause.describe() for cause in point_gaps(result_set, point)]
        if point.budget_ms is not None:
            notes.append(
                f"send time (connect / handshake / client / sink latency / sink): "
                f"{by_header[BUDGET_HEADER]}"
            )
        if point.cpu_by_part:
            notes.append(
                f"CPU % consumer / sink / loadgen / broker / machine: {by_header[CPU_HEADER]}"
            )
        if notes:
            text = "; ".join(escape(n) for n in notes)
            items.append(f"<li><b>point {number}</b> ({escape(params)}): {text}</li>")
    if not items:
        return []
    return ["<h2>Per point</h2>", '<ul class="notes">', *items, "</ul>"]


def _logs(logs: Mapping[int, Sequence[tuple[str, str]]]) -> list[str]:
    if not logs:
        return []
    out = ["<h2>Consumer logs</h2>", "<ul>"]
    for number, files in sorted(logs.items()):
        links = ", ".join(
            f'<a href="{escape(link)}">{escape(file_name)}</a>' for file_name, link in files
        )
        out.append(f"<li>point {number}: {links}</li>")
    out.append("</ul>")
    return out


def _environment(result_set: ResultSet) -> list[str]:
    env = result_set.environment
    rows = [
        ("host", env.host),
        ("platform", env.platform),
        ("machine", env.machine),
        ("CPU", f"{env.cpu_count} x {env.cpu_model}"),
        ("Python", env.python),
        *((name, version or "not installed") for name, version in env.versions.items()),
        ("git commit", env.commit_label),
        ("measured (UTC)", env.created_utc),
        ("scenario hash", result_set.scenario_hash),
        ("schema version", str(result_set.schema_version)),
    ]
    out = ["<h2>Environment</h2>", "<table>"]
    out += [
        f'<tr><th style="text-align:left">{escape(k)}</th>'
        f'<td style="text-align:left">{escape(v)}</td></tr>'
        for k, v in rows
    ]
    out.append("</table>")
    return out
