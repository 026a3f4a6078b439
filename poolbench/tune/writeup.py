"""A `Recommendation` written out: its markdown report (`tune.md`) and its JSON form
(`tune.json`). Pure.
"""

from __future__ import annotations

import math
from typing import Any, Final

from poolbench.tune.advice import SEED_HIGH_RATE, Recommendation
from poolbench.tune.model import ModelFit, UslFit
from poolbench.tune.probes import Probe, StopReason


def _pct(x: float) -> str:
    return f"{100 * x:+.0f}%"


def render_markdown(rec: Recommendation, *, chart: str | None = None) -> str:
    """A short report: setting, measurements, knee, buffer, model, and every point."""
    t = rec.target
    out = [f"# Sizing for {t.rate:g}/s with p99 under {t.p99_ms:g} ms", ""]
    if t.p99_margin > 0:
        out += [
            f"Every point had to show p99 at most {t.max_p99_ms:.0f} ms ({100 * t.p99_margin:.0f}% "
            "margin), so that the noise of one short point does not pick a setting that only "
            "just passes.",
            "",
        ]
    if rec.stop not in (StopReason.DONE, StopReason.UNREACHABLE):
        out += [f"**Partial result**: {rec.stop.value}; what follows is what was measured.", ""]
    if rec.workers is None or rec.buffer is None or rec.at_setting is None:
        why = rec.stop.value + (f" ({rec.error})" if rec.error else "")
        out += [f"**No setting found**: {why}.", ""]
        if rec.knee is not None:
            out += [
                f"Best throughput seen: {rec.knee.throughput:.0f}/s at {rec.knee.workers} "
                f"workers ({rec.knee.reason}).",
                "",
            ]
    else:
        m = rec.at_setting.measurement
        out += [
            "## Recommendation",
            "",
            "```",
            *(f"{k}={v}" for k, v in rec.env.items()),
            "```",
            f"or `{rec.command}`.",
            "",
            f"- measured at {t.rate:g}/s: {m.throughput:.1f}/s delivered, p99 {m.p99_ms:.0f} ms, "
            f"{m.lost} lost" + ("" if rec.confirmed else " (not re-measured)"),
            f"- memory: {m.memory_mb:.1f} MB peak RSS; consumer CPU {m.cpu_percent:.0f}% of a core",
        ]
        asked = f"{100 * t.headroom:g}%"
        if rec.ceiling is not None and rec.headroom is not None:
            out.append(
                f"- ceiling at this setting (saturating load): "
                f"{rec.ceiling.measurement.throughput:.0f}/s, headroom {_pct(rec.headroom)} "
                f"over the target ({asked} asked for)"
            )
            if not rec.headroom_met:
                more = rec.workers_for_headroom(t.headroom)
                out.append(
                    f"- **not enough headroom**: {_pct(rec.headroom)} of the {asked} asked for"
                    + (
                        f"; about {more} workers would give it (Little's law from the "
                        "measured ceiling), not measured"
                        if more is not None and more > rec.workers
                        else ""
                    )
                )
        else:
            out.append(
                f"- ceiling: not measured (budget ended), so the {asked} headroom is not shown"
            )
        out.append("")
    if rec.knee is not None:
        k = rec.knee
        where = "knee" if k.reached else "no knee"
        out += [
            "## Knee",
            "",
            f"{where}: {k.workers} workers, {k.throughput:.0f}/s ({k.reason}).",
            "",
        ]
    if rec.buffer_advice is not None:
        b = rec.buffer_advice
        if b.seed_needed is None:
            verdict = "not known: the search stopped before it measured smaller buffers"
        elif b.seed_needed:
            verdict = "it is needed"
        else:
            verdict = f"it is not needed: {b.buffer} already met the target"
        out += [
            "## Buffer",
            "",
            f"A buffer of {b.buffer} takes a burst of {b.burst_emails} emails off Kafka without "
            f"pausing the consumer ({b.buffer / t.rate:.2f} s of traffic at {t.rate:g}/s), and "
            f"adds at most {b.worst_delay_ms:.0f} ms of queueing when full "
            f"(buffer ÷ {b.drain_per_s:.0f}/s).",
            "",
            f"The seed's guide says {b.seed_buffer}"
            + ("+" if t.rate > SEED_HIGH_RATE else "")
            + f" at this rate (up to {b.seed_worst_delay_ms:.0f} ms of queueing): {verdict}.",
            "",
        ]
    out += _model_section(rec.model)
    out += _probe_table(rec.probes)
    out += [stop_line(rec), ""]
    if chart:
        out += [f"![throughput and p99 vs workers]({chart})", ""]
    return "\n".join(out)


def _model_section(model: ModelFit) -> list[str]:
    out = ["## Model", ""]
    if model.little is not None:
        lf = model.little
        out.append(
            f"- Little's law below the knee: {lf.per_worker_rate:.2f}/s per worker "
            f"(a send takes {lf.send_ms:.1f} ms), from {lf.points} points at "
            f"{lf.n_min}-{lf.n_max} workers; error rms {100 * lf.rms_rel_error:.1f}%, "
            f"max {100 * lf.max_rel_error:.1f}%"
        )
    if model.usl is not None:
        u = model.usl
        out.append(
            f"- USL: C(N) = {u.lam:.2f} N / (1 + {u.sigma:.4g} (N-1) + {u.kappa:.3g} N (N-1)); "
            f"error rms {100 * u.rms_rel_error:.1f}%, max {100 * u.max_rel_error:.1f}% over "
            f"{u.points} points; " + usl_peak(u)
        )
    out += [f"- {note}" for note in model.notes]
    out.append("")
    return out


# A model's figure beyond this many times the largest measured count is only named with
# a warning in the same sentence.
EXTRAPOLATION_FACTOR: Final = 2.0


def usl_peak(u: UslFit) -> str:
    """The fitted peak, in words that cannot be read as a measurement when it lies far
    outside the measured range."""
    peak = u.peak_workers
    if peak is None:
        return "peak none (no slowdown in the measured range)"
    text = f"peak {u.predict(peak):.0f}/s at {peak:.0f} workers"
    if peak > EXTRAPOLATION_FACTOR * u.n_max:
        return (
            f"{text}, an extrapolation to more than {EXTRAPOLATION_FACTOR:g}x the largest "
            f"measured count ({u.n_max} workers): not supported by the data"
        )
    return text


def stop_line(rec: Recommendation) -> str:
    """How many points, how long, and why the search stopped."""
    text = f"{len(rec.probes)} points in {rec.elapsed_s:.0f} s; stopped: {rec.stop.value}"
    if rec.knee is not None and not rec.knee.reached:
        text += f" (knee: {rec.knee.reason})"
    return text + "."


def _probe_table(probes: tuple[Probe, ...]) -> list[str]:
    out = [
        "## Points measured",
        "",
        "| # | Phase | Workers | Buffer | Load | Throughput/s | p99 ms | Memory MB | CPU % "
        "| Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in probes:
        m = p.measurement
        verdict = "ok" if p.meets else ("; ".join(p.failures) or "-")
        if m.harness_limited:
            verdict += " (harness saturated)"
        out.append(
            f"| {p.number} | {p.phase.value} | {p.workers} | {p.buffer} | {p.load.value} | "
            f"{m.throughput:.1f} | {m.p99_ms:.0f} | {m.memory_mb:.1f} | {m.cpu_percent:.0f} | "
            f"{verdict} |"
        )
    out.append("")
    return out


def to_dict(rec: Recommendation) -> dict[str, Any]:
    """JSON-ready form, for `tune.json`."""

    def probe(p: Probe) -> dict[str, Any]:
        m = p.measurement
        return {
            "index": p.index,
            "number": p.number,
            "phase": p.phase.value,
            "workers": p.workers,
            "buffer": p.buffer,
            "load": p.load.value,
            "throughput_per_s": m.throughput,
            "p99_ms": m.p99_ms,
            "lost": m.lost,
            "cpu_percent": m.cpu_percent,
            "memory_mb": m.memory_mb,
            "send_ms": m.send_ms,
            "harness_limited": m.harness_limited,
            "failures": list(p.failures),
            "duration_s": p.duration_s,
        }

    u, lf = rec.model.usl, rec.model.little
    doc = {
        "target": {
            "rate_per_s": rec.target.rate,
            "p99_ms": rec.target.p99_ms,
            "p99_margin": rec.target.p99_margin,
            "headroom": rec.target.headroom,
        },
        "command": rec.command,
        "headroom_met": rec.headroom_met,
        "workers": rec.workers,
        "buffer": rec.buffer,
        "env": rec.env,
        "confirmed": rec.confirmed,
        "ceiling_per_s": rec.ceiling.measurement.throughput if rec.ceiling else None,
        "headroom": rec.headroom,
        "knee": None
        if rec.knee is None
        else {
            "workers": rec.knee.workers,
            "throughput_per_s": rec.knee.throughput,
            "reached": rec.knee.reached,
            "reason": rec.knee.reason,
        },
        "buffer_advice": None
        if rec.buffer_advice is None
        else {
            "buffer": rec.buffer_advice.buffer,
            "burst_emails": rec.buffer_advice.burst_emails,
            "worst_delay_ms": rec.buffer_advice.worst_delay_ms,
            "seed_buffer": rec.buffer_advice.seed_buffer,
            "seed_needed": rec.buffer_advice.seed_needed,
        },
        "model": {
            "little": None
            if lf is None
            else {
                "per_worker_rate": lf.per_worker_rate,
                "send_ms": lf.send_ms,
                "rms": lf.rms_rel_error,
            },
            "usl": None
            if u is None
            else {
                "lambda": u.lam,
                "sigma": u.sigma,
                "kappa": u.kappa,
                "rms": u.rms_rel_error,
                "max": u.max_rel_error,
                "supported_workers": [u.n_min, u.n_max],
            },
            "notes": list(rec.model.notes),
        },
        "stop": rec.stop.value,
        "error": rec.error,
        "elapsed_s": rec.elapsed_s,
        "probes": [probe(p) for p in rec.probes],
    }
    finite: dict[str, Any] = _finite(doc)
    return finite


def _finite(value: Any) -> Any:
    """NaN and infinity (a point that measured nothing) as null: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
