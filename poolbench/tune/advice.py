"""The recommendation a search leads to, and its markdown. Pure.

The buffer advice follows from what a buffer does: it lets the consumer keep polling while
every worker is busy, so a burst of up to `buffer` emails is taken off Kafka without pausing;
and every email in it waits for a worker, so a full buffer adds up to buffer / throughput of
queueing delay. A buffer larger than the smallest one that met the target only adds delay.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from poolbench.consumer.settings import DEFAULTS, spec_for
from poolbench.tune.model import ModelFit, capacity_points, fit
from poolbench.tune.search import Knee, Probe, SearchResult, StopReason, Target

SEED_LOW_RATE = 10.0  # the seed's guide: "< 10/sec: buffer = 50"
SEED_HIGH_RATE = 100.0  # "10-100/sec: 100-200", "> 100/sec: 500+"


def seed_buffer(rate: float) -> int:
    """The buffer the seed's tuning guide gives for a rate (the low end of its range)."""
    if rate < SEED_LOW_RATE:
        return 50
    if rate <= SEED_HIGH_RATE:
        return 100
    return 500


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferAdvice:
    buffer: int
    drain_per_s: float  # the rate a full buffer empties at: the measured ceiling, else the rate
    seed_buffer: int  # what the seed's guide says for this rate
    seed_needed: bool | None  # did it need a buffer as large as the seed's? None: not searched

    @property
    def burst_emails(self) -> int:
        """Emails arriving at once that are taken off Kafka without pausing the consumer."""
        return self.buffer

    @property
    def worst_delay_ms(self) -> float:
        """The queueing delay a full buffer adds to the last email in it."""
        return 1000.0 * self.buffer / self.drain_per_s

    @property
    def seed_worst_delay_ms(self) -> float:
        return 1000.0 * self.seed_buffer / self.drain_per_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    target: Target
    workers: int | None
    buffer: int | None
    confirmed: bool
    at_setting: Probe | None  # the target-rate measurement of the setting
    ceiling: Probe | None  # the setting under a saturating load
    knee: Knee | None
    buffer_advice: BufferAdvice | None
    model: ModelFit
    stop: StopReason
    probes: tuple[Probe, ...]
    elapsed_s: float
    error: str | None = None
    headroom_met: bool = False
    # The consumer settings every point ran with (settings fields), besides the pool: the
    # recommendation repeats them, so it names the configuration that was measured.
    consumer: Mapping[str, object] = field(default_factory=dict)

    @property
    def headroom(self) -> float | None:
        """Measured ceiling over the target rate, minus one (0.25 = 25% spare)."""
        if self.ceiling is None:
            return None
        return self.ceiling.measurement.throughput / self.target.rate - 1

    def workers_for_headroom(self, headroom: float) -> int | None:
        """Workers for `headroom` over the target, scaling the measured ceiling linearly."""
        if self.ceiling is None or self.workers is None:
            return None
        ceiling = self.ceiling.measurement.throughput
        if ceiling <= 0:
            return None
        return math.ceil(self.workers * self.target.rate * (1 + headroom) / ceiling)

    def _setting(self) -> dict[str, object]:
        """What was measured: the pool, the connection mode always (the consumer's default
        may differ from the measured one), and every other setting off its default."""
        if self.workers is None or self.buffer is None:
            return {}
        setting: dict[str, object] = {"workers": self.workers, "buffer": self.buffer}
        reuse = self.consumer.get("connection_reuse", DEFAULTS.connection_reuse)
        setting["connection_reuse"] = reuse
        for name, value in self.consumer.items():
            if name not in setting and value != getattr(DEFAULTS, name, value):
                setting[name] = value
        return setting

    @property
    def env(self) -> dict[str, str]:
        """The setting as the consumer's variables (names from its settings table)."""
        return {
            spec_for(name).env: spec_for(name).text(value)
            for name, value in self._setting().items()
        }

    @property
    def flags(self) -> str:
        """The setting as `poolbench consume` flags (from the same table)."""
        return " ".join(
            f"{spec_for(name).flag} {shlex.quote(spec_for(name).text(value))}"
            for name, value in self._setting().items()
        )

    @property
    def command(self) -> str:
        """The exact command that runs the measured configuration."""
        return f"poolbench consume {self.flags}" if self._setting() else ""


def recommend(
    result: SearchResult, *, consumer: Mapping[str, object] | None = None
) -> Recommendation:
    at, ceiling = result.at_setting, result.ceiling
    advice = None
    if result.buffer is not None and at is not None:
        drain = ceiling.measurement.throughput if ceiling is not None else result.target.rate
        seed = seed_buffer(result.target.rate)
        advice = BufferAdvice(
            buffer=result.buffer,
            drain_per_s=max(drain, 1e-9),
            seed_buffer=seed,
            seed_needed=result.buffer >= seed if result.buffer_searched else None,
        )
    knee_workers = result.knee.workers if result.knee is not None and result.knee.reached else None
    model = fit(capacity_points(result.probes, result.target), knee_workers=knee_workers)
    return Recommendation(
        target=result.target,
        workers=result.workers,
        buffer=result.buffer,
        confirmed=result.confirmed,
        at_setting=at,
        ceiling=ceiling,
        knee=result.knee,
        buffer_advice=advice,
        model=model,
        stop=result.stop,
        probes=result.probes,
        elapsed_s=result.elapsed_s,
        error=result.error,
        headroom_met=result.headroom_met,
        consumer=dict(consumer or {}),
    )


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
    out += [f"{len(rec.probes)} points in {rec.elapsed_s:.0f} s; stopped: {rec.stop.value}.", ""]
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
        peak = u.peak_workers
        out.append(
            f"- USL: C(N) = {u.lam:.2f} N / (1 + {u.sigma:.4g} (N-1) + {u.kappa:.3g} N (N-1)); "
            f"error rms {100 * u.rms_rel_error:.1f}%, max {100 * u.max_rel_error:.1f}% over "
            f"{u.points} points; peak "
            + (f"{u.predict(peak):.0f}/s at {peak:.0f} workers" if peak else "none (no slowdown)")
        )
    out += [f"- {note}" for note in model.notes]
    out.append("")
    return out


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
            f"| {p.index} | {p.phase.value} | {p.workers} | {p.buffer} | {p.load.value} | "
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
