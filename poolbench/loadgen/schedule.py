"""Arrival-rate profiles and the open-model schedule they define (pure).

A profile is a list of segments, each with a duration and a rate that moves linearly from
its start to its end value; the last segment lasts for ever. Event i is meant to be sent
at the moment the profile's cumulative count reaches i, so the schedule never depends on
how fast the producer or the consumer actually is (no coordinated omission).

The typed forms come first (`constant`, `steps_profile`, `MAX_PROFILE`, and
`profile_to_dict`/`profile_from_dict` across processes); text forms are for flags:
  `500/s`                          constant
  `max`                            as fast as the producer takes them (no schedule)
  `ramp:100/s:2000/s:30s`          linear from 100/s to 2000/s over 30 s, then 2000/s
  `steps:100/s:10s,500/s:10s,...`  each rate for its duration; the last one stays
  `burst:500/s:5000/s:10s:2s`      500/s, then 5000/s from 10 s for 2 s, then 500/s again
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from poolbench.errors import ConfigError
from poolbench.units import parse_duration, parse_rate

MAX: Final = "max"
PROFILES: Final = ("constant", "ramp", "steps", "burst")
_SYNTAX: Final = (
    "expected 'max', a rate like '500/s', or a profile: 'ramp:FROM:TO:OVER', "
    "'steps:RATE:FOR,RATE:FOR,...', 'burst:BASE:PEAK:AT:FOR'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """`duration` seconds (inf for the last) with the rate moving from `start` to `end`/s."""

    duration: float
    start: float
    end: float

    def count(self, elapsed: float) -> float:
        """Events meant to be sent in the first `elapsed` seconds of this segment."""
        if elapsed <= 0:
            return 0.0
        elapsed = min(elapsed, self.duration)
        if self.start == self.end or math.isinf(self.duration):
            return self.start * elapsed
        slope = (self.end - self.start) / self.duration
        return self.start * elapsed + slope * elapsed * elapsed / 2

    def time_of(self, events: float) -> float:
        """Seconds into the segment at which `count` reaches `events` (the inverse)."""
        if events <= 0:
            return 0.0
        if self.start == self.end or math.isinf(self.duration):
            return events / self.start
        half_slope = (self.end - self.start) / self.duration / 2
        # Root of half_slope*t^2 + start*t - events = 0, in the form that is stable when
        # the slope is tiny or negative.
        return 2 * events / (self.start + math.sqrt(self.start**2 + 4 * half_slope * events))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateProfile:
    """An arrival-rate profile; `segments` is empty for `max` (no schedule)."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def is_max(self) -> bool:
        return not self.segments

    def rate_at(self, t: float) -> float:
        """Events per second meant at `t` seconds after the start (inf for max)."""
        if self.is_max:
            return math.inf
        begin = 0.0
        for segment in self.segments:
            if t < begin + segment.duration:
                elapsed = t - begin
                if math.isinf(segment.duration) or segment.start == segment.end:
                    return segment.start
                return segment.start + (segment.end - segment.start) * elapsed / segment.duration
            begin += segment.duration
        return self.segments[-1].end

    def expected_count(self, duration: float) -> float:
        """Events the schedule means to send in the first `duration` seconds."""
        if self.is_max:
            return math.inf
        total, begin = 0.0, 0.0
        for segment in self.segments:
            if duration <= begin:
                break
            total += segment.count(duration - begin)
            begin += segment.duration
        return total

    def offsets(self) -> Iterator[float]:
        """Seconds after the start at which events 0, 1, 2, ... are meant to be sent.

        Event 0 at 0; endless (the caller bounds it by count or duration). Not for `max`.
        """
        if self.is_max:
            raise ConfigError("rate max has no schedule", what="rate", got=self.text)
        segments = self.segments
        index = 0
        begin = 0.0
        done_before = 0.0  # events meant before the current segment begins
        segment_total = segments[0].count(segments[0].duration)
        i = 0
        while True:
            while i >= done_before + segment_total and index + 1 < len(segments):
                begin += segments[index].duration
                done_before += segment_total
                index += 1
                segment_total = segments[index].count(segments[index].duration)
            yield begin + segments[index].time_of(i - done_before)
            i += 1


MAX_PROFILE: Final = RateProfile(text=MAX, segments=())


def constant(rate: float) -> RateProfile:
    return RateProfile(
        text=f"{rate:g}/s", segments=(Segment(duration=math.inf, start=rate, end=rate),)
    )


def _rate(text: str | float, what: str) -> float:
    return parse_rate(text, what=what)


def _duration(text: str, what: str, part: str, *, positive: bool = True) -> float:
    """The duration `part` of a profile (`ramp duration`), located at `what`."""
    try:
        seconds = parse_duration(text, what=what)
    except ConfigError as exc:
        raise ConfigError(
            f"{part}: {exc.problem}", what=what, where=what, expected=exc.expected, got=text
        ) from exc
    if positive and seconds <= 0:
        raise ConfigError(f"{part}: must be positive", what=what, where=what, got=text)
    return seconds


def _syntax_error(what: str, text: object, problem: str = "") -> ConfigError:
    return ConfigError(
        f"{problem}: {_SYNTAX}" if problem else _SYNTAX, what=what, where=what, got=text
    )


def parse_profile(text: str | float | int, *, what: str = "rate") -> RateProfile:
    """A `RateProfile` from its text form (see the module doc); `ConfigError` if invalid."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return constant(_rate(text, what))
    if not isinstance(text, str):
        raise _syntax_error(what, text)
    cleaned = text.strip()
    if cleaned.lower() == MAX:
        return RateProfile(text=MAX, segments=())
    kind, colon, rest = cleaned.partition(":")
    kind = kind.lower()
    if not colon:
        try:
            return constant(_rate(cleaned, what))
        except ConfigError:
            raise _syntax_error(what, text) from None
    parts = [part.strip() for part in rest.split(":")]
    if kind == "constant" and len(parts) == 1:
        return constant(_rate(parts[0], what))
    if kind == "ramp" and len(parts) == 3:
        start, end = _rate(parts[0], what), _rate(parts[1], what)
        over = _duration(parts[2], what, "ramp duration")
        segments = (
            Segment(duration=over, start=start, end=end),
            Segment(duration=math.inf, start=end, end=end),
        )
        return RateProfile(text=cleaned, segments=segments)
    if kind == "steps":
        steps: list[Segment] = []
        for step in rest.split(","):
            rate_text, step_colon, for_text = step.strip().partition(":")
            if not step_colon:
                raise ConfigError(
                    f"steps are RATE:FOR, not {step.strip()!r}", what=what, where=what, got=text
                )
            rate = _rate(rate_text, what)
            steps.append(Segment(duration=_duration(for_text, what, "step"), start=rate, end=rate))
        last = steps[-1].start
        steps.append(Segment(duration=math.inf, start=last, end=last))
        return RateProfile(text=cleaned, segments=tuple(steps))
    if kind == "burst" and len(parts) == 4:
        base, peak = _rate(parts[0], what), _rate(parts[1], what)
        at = _duration(parts[2], what, "burst start", positive=False)
        length = _duration(parts[3], what, "burst length")
        segments = (
            *((Segment(duration=at, start=base, end=base),) if at > 0 else ()),
            Segment(duration=length, start=peak, end=peak),
            Segment(duration=math.inf, start=base, end=base),
        )
        return RateProfile(text=cleaned, segments=segments)
    if kind in PROFILES:
        raise _syntax_error(what, text, f"wrong number of fields for {kind}")
    raise _syntax_error(what, text, f"unknown profile {kind!r}")


def steps_profile(
    steps: Sequence[tuple[float, float]], *, cover_s: float | None = None
) -> RateProfile:
    """The profile of `(rate per s, duration s)` steps, typed (no text to parse).

    The last step holds for ever; with `cover_s` the steps are repeated as a cycle until
    they last at least that long, so a looping profile stays a loop for the whole run.
    """
    if not steps:
        raise ConfigError("a profile needs at least one (rate, duration) step", what="rate")
    for rate, duration in steps:
        _check_rate(rate)
        if not (math.isfinite(duration) and duration > 0):
            raise ConfigError("step durations must be positive", what="rate", got=duration)
    cycle_s = sum(duration for _rate, duration in steps)
    cycles = 1 if cover_s is None else max(1, math.ceil(cover_s / cycle_s))
    played = list(steps) * cycles
    segments = [Segment(duration=d, start=r, end=r) for r, d in played]
    last = played[-1][0]
    segments.append(Segment(duration=math.inf, start=last, end=last))
    text = "steps:" + ",".join(f"{r:g}/s:{d:g}s" for r, d in steps)
    if cycles > 1:
        text += f" x{cycles}"
    return RateProfile(text=text, segments=tuple(segments))


def _check_rate(rate: Any, what: str = "rate") -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ConfigError(
            what="rate", where=what, expected="a number of events per second", got=rate
        )
    if not (math.isfinite(rate) and rate > 0):
        raise ConfigError("must be positive and finite", what="rate", where=what, got=rate)


def profile_to_dict(profile: RateProfile) -> dict[str, Any]:
    """JSON-ready: the text (for people) and the segments, infinite duration as null."""
    return {
        "text": profile.text,
        "segments": [
            {
                "duration": None if math.isinf(s.duration) else s.duration,
                "start": s.start,
                "end": s.end,
            }
            for s in profile.segments
        ],
    }


def profile_from_dict(doc: Any) -> RateProfile:
    """The inverse of `profile_to_dict`, validated; `ConfigError` names what is wrong."""
    if not isinstance(doc, dict) or set(doc) != {"text", "segments"}:
        raise ConfigError(what="rate", expected="{text, segments}", got=doc)
    text, raw = doc["text"], doc["segments"]
    if not isinstance(text, str) or not isinstance(raw, list):
        raise ConfigError(what="rate", expected="a text and a list of segments", got=doc)
    segments: list[Segment] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"duration", "start", "end"}:
            raise ConfigError(
                what="rate",
                where=f"rate.segments[{i}]",
                expected="{duration, start, end}",
                got=item,
            )
        last = i == len(raw) - 1
        duration = item["duration"]
        if last != (duration is None):
            raise ConfigError(
                "only the last segment lasts for ever (duration null)",
                what="rate",
                where=f"rate.segments[{i}]",
            )
        if duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not (math.isfinite(duration) and duration > 0)
        ):
            raise ConfigError(
                "duration must be positive", what="rate", where=f"rate.segments[{i}]", got=duration
            )
        for name in ("start", "end"):
            _check_rate(item[name], f"rate.segments[{i}].{name}")
        segments.append(
            Segment(
                duration=math.inf if duration is None else float(duration),
                start=float(item["start"]),
                end=float(item["end"]),
            )
        )
    if not segments and text != MAX:
        raise ConfigError("a profile without segments must be 'max'", what="rate", got=text)
    return RateProfile(text=text, segments=tuple(segments))
