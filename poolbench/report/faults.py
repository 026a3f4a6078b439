"""Faults explained: which gaps in deliveries the outages made, and which the breaker did.

Pure functions over a point's timeline, the scenario's sink outages and the consumer's
breaker cooldown (no pandas, no matplotlib): the report, the HTML page and the timeline
chart all use them.

A *gap* is a run of timeline seconds with no delivery, after the first delivery and
before the load's end. A gap that overlaps an outage and outlasts it by more than one
timeline step, but by no more than the cooldown (plus one step), was set by the breaker:
it opened during the outage and let no email through until its cooldown ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from poolbench.results import PointResult, ResultSet, TimelineSample


def _s(seconds: float) -> str:
    """Seconds as the timeline counts them: `8`, `2.5`."""
    return f"{round(seconds, 1):g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    at_s: float  # from the load's start
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """Seconds [start_s, end_s) of the timeline with no delivery."""

    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True, kw_only=True)
class GapCause:
    gap: Gap
    outage: Outage | None  # the outage it overlaps; None: no outage explains it
    cooldown_s: float | None  # the consumer's breaker cooldown, when known
    by_breaker: bool  # the cooldown, not the outage, set the gap's length

    def describe(self) -> str:
        gap = self.gap
        span = f"{_s(gap.start_s)}-{_s(gap.end_s)} s"
        if self.outage is None:
            return f"no delivery for {_s(gap.seconds)} s ({span}), with no outage then"
        outage = self.outage
        head = (
            f"the {_s(outage.duration_s)} s outage at {_s(outage.at_s)} s "
            f"made {_s(gap.seconds)} s with no delivery ({span})"
        )
        if self.by_breaker and self.cooldown_s is not None:
            return (
                f"{head}: the consumer's circuit breaker cooldown "
                f"({_s(self.cooldown_s)} s), not the outage, set the gap's length "
                "(the breaker opened during the outage and sent nothing until its cooldown "
                "ended)"
            )
        extra = gap.end_s - outage.end_s
        if extra > 0 and self.cooldown_s is not None:
            return (
                f"{head}: {_s(extra)} s past the outage's end, longer than the "
                f"breaker cooldown ({_s(self.cooldown_s)} s) explains"
            )
        return f"{head}: as long as the outage"


def delivery_gaps(
    timeline: Sequence[TimelineSample], *, load_s: float | None, step_s: float = 1.0
) -> list[Gap]:
    """Runs of seconds without a delivery between the first delivery and the load's end."""
    gaps: list[Gap] = []
    started = False
    start: float | None = None
    end_of_load = load_s if load_s is not None else float("inf")
    for sample in timeline:
        if sample.delivered_per_s > 0:
            if start is not None:
                gaps.append(Gap(start_s=start, end_s=sample.t_s))
                start = None
            started = True
        elif started and start is None and sample.t_s < end_of_load:
            start = sample.t_s
    if start is not None and timeline:
        gaps.append(Gap(start_s=start, end_s=timeline[-1].t_s + step_s))
    return gaps


def explain_gaps(
    timeline: Sequence[TimelineSample],
    outages: Sequence[Outage],
    *,
    cooldown_s: float | None,
    load_s: float | None,
    step_s: float = 1.0,
) -> list[GapCause]:
    """Each gap of at least two steps, with the outage it overlaps and whether the
    breaker's cooldown set its length (see the module doc)."""
    out: list[GapCause] = []
    for gap in delivery_gaps(timeline, load_s=load_s, step_s=step_s):
        outage = next(
            (o for o in outages if o.at_s < gap.end_s and gap.start_s < o.end_s + step_s), None
        )
        if outage is None and gap.seconds < 2 * step_s:
            continue  # a quiet second under a light load is not a gap worth a sentence
        by_breaker = False
        if outage is not None and cooldown_s is not None:
            extra = gap.end_s - outage.end_s
            by_breaker = step_s < extra <= cooldown_s + step_s
        out.append(GapCause(gap=gap, outage=outage, cooldown_s=cooldown_s, by_breaker=by_breaker))
    return out


def scenario_outages(scenario: Mapping[str, Any]) -> list[Outage]:
    """`sink.outages` of a stored scenario."""
    sink = scenario.get("sink") or {}
    return [
        Outage(at_s=float(o["at"]), duration_s=float(o["duration"]))
        for o in sink.get("outages") or []
        if isinstance(o, Mapping)
    ]


def breaker_cooldown_s(point: PointResult) -> float | None:
    """The consumer's breaker cooldown, from its reported settings (ours only)."""
    settings = point.consumer_settings or {}
    value = settings.get("breaker_cooldown_s")
    return float(value) if isinstance(value, int | float) else None


def load_seconds(result_set: ResultSet, point: PointResult) -> float | None:
    """When the point's load ended: measured (results version 3), else the scenario's."""
    if point.load_s is not None:
        return point.load_s
    load = result_set.scenario.get("load") or {}
    duration = load.get("duration")
    return float(duration) if isinstance(duration, int | float) else None


def point_gaps(result_set: ResultSet, point: PointResult) -> list[GapCause]:
    return explain_gaps(
        point.timeline,
        scenario_outages(result_set.scenario),
        cooldown_s=breaker_cooldown_s(point),
        load_s=load_seconds(result_set, point),
    )


def offered_at(scenario: Mapping[str, Any], t_s: float) -> float | None:
    """The offered rate at `t_s` from the load's start; None under a saturating load."""
    rate = (scenario.get("load") or {}).get("rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        return float(rate)
    if isinstance(rate, list) and rate:
        steps = [(float(s["rate"]), float(s["duration"])) for s in rate]
        cycle = sum(d for _, d in steps)
        if cycle <= 0:
            return None
        t = t_s % cycle
        for value, duration in steps:
            if t < duration:
                return value
            t -= duration
        return steps[-1][0]
    return None
