"""The written forms of a recommendation: its markdown and its JSON."""

from __future__ import annotations

import dataclasses
import json
import math

from poolbench.tune.advice import recommend
from poolbench.tune.probes import SearchLimits, StopReason
from poolbench.tune.search import search
from poolbench.tune.writeup import render_markdown, to_dict
from tests.tune.sim import tuned


def test_markdown_names_the_settings_the_knee_the_buffer_and_the_model() -> None:
    sim, target = tuned(100.0, sigma=0.05, kappa=0.0005)
    rec = recommend(search(sim, target, SearchLimits(), clock=sim.clock))
    text = render_markdown(rec, chart="tune.png")
    assert f"EMAIL_WORKER_COUNT={rec.workers}" in text
    assert f"EMAIL_WORKER_BUFFER={rec.buffer}" in text
    assert "headroom" in text
    assert "## Knee" in text and "throughput flattens" in text
    assert "seed's guide says 100" in text
    assert "USL" in text and "Little's law" in text
    assert "![throughput and p99 vs workers](tune.png)" in text
    # One table row per probe.
    assert text.count("\n| ") == len(rec.probes) + 1


def test_markdown_when_nothing_meets_the_target() -> None:
    sim, target = tuned(5000.0, sigma=0.05, kappa=0.0005)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    assert rec.workers is None and rec.env == {} and rec.flags == ""
    text = render_markdown(rec)
    assert "No setting found" in text
    assert StopReason.UNREACHABLE.value in text


def test_to_dict_is_json_and_keeps_every_probe() -> None:
    sim, target = tuned(100.0)
    rec = recommend(search(sim, target, SearchLimits(), clock=sim.clock))
    data = json.loads(json.dumps(to_dict(rec)))
    assert data["workers"] == rec.workers
    assert len(data["probes"]) == len(rec.probes)
    assert data["model"]["usl"]["supported_workers"][0] >= 1


def test_a_point_that_measured_nothing_still_writes_json() -> None:
    sim, target = tuned(200.0, sigma=0.0, kappa=0.0)
    rec = recommend(search(sim, target, SearchLimits(send_s_hint=0.05), clock=sim.clock))
    m = rec.probes[0].measurement
    broken = dataclasses.replace(
        rec.probes[0], measurement=dataclasses.replace(m, p99_ms=math.inf, memory_mb=math.nan)
    )
    rec = dataclasses.replace(rec, probes=(broken, *rec.probes[1:]))
    doc = to_dict(rec)
    json.dumps(doc, allow_nan=False)  # was a ValueError after the whole search
    assert doc["probes"][0]["p99_ms"] is None and doc["probes"][0]["memory_mb"] is None
