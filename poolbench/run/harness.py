"""Who was busy: the CPU of every part a point runs, and when the harness set the figure.

The sampler measures each role's processes ("consumer", "sink", "loadgen", "broker",
"runner") and the whole machine ("machine", 100 = one core, so up to 100 x cores).
A point measures the consumer only while the harness has room: when the machine is
busier than `MACHINE_BUSY_SHARE` of all its cores, or one harness process is above
`PART_SATURATED_PERCENT` of a core, the harness may be the limit, and the point says so,
naming the part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from poolbench.run.samples import ProcessSample, Window

MACHINE_BUSY_SHARE: Final = 0.85
PART_SATURATED_PERCENT: Final = 90.0
# An asyncio consumer runs on one core (the GIL); above this share of it, its own CPU,
# not its workers or the SMTP latency, is what limits it.
CONSUMER_BOUND_PERCENT: Final = 80.0
# Below this share of workers / latency a point names what held it back.
SHORT_OF_IDEAL: Final = 0.9
HARNESS_ROLES: Final = ("sink", "loadgen", "broker", "runner")
MACHINE_ROLE: Final = "machine"
CONSUMER_ROLE: Final = "consumer"
MB: Final = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleUse:
    """One role over a window: mean CPU% (100 = one core) and its processes."""

    cpu_percent: float
    processes: int  # the most processes seen at once
    samples: int
    mean_rss_mb: float
    peak_rss_mb: float  # the largest sampled RSS (the kernel's high-water mark is separate)


def role_use(samples: Iterable[ProcessSample], window: Window) -> dict[str, RoleUse]:
    """Per role, its mean CPU and memory over the samples taken inside `window`."""
    grouped: dict[str, list[ProcessSample]] = {}
    for s in samples:
        if s.t_ns in window:
            grouped.setdefault(s.role, []).append(s)
    return {
        role: RoleUse(
            cpu_percent=sum(s.cpu_percent for s in chosen) / len(chosen),
            processes=max(s.processes for s in chosen),
            samples=len(chosen),
            mean_rss_mb=sum(s.rss_bytes for s in chosen) / len(chosen) / MB,
            peak_rss_mb=max(s.rss_bytes for s in chosen) / MB,
        )
        for role, chosen in grouped.items()
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class HarnessVerdict:
    saturated: bool
    warnings: tuple[str, ...]


def harness_verdict(
    use: Mapping[str, RoleUse], *, cores: int, throughput_share: float | None = None
) -> HarnessVerdict:
    """Warnings when the machine or a harness part was saturated during the window.

    `throughput_share`: the point's throughput over its ideal; below 0.9 with a saturated
    harness, the harness (not the consumer) likely set the figure, and the warning says so.
    """
    out: list[str] = []
    machine = use.get(MACHINE_ROLE)
    if machine is not None and machine.cpu_percent > MACHINE_BUSY_SHARE * 100.0 * cores:
        parts = ", ".join(
            f"{role} {u.cpu_percent:.0f}%"
            for role, u in sorted(use.items(), key=lambda kv: -kv[1].cpu_percent)
            if role != MACHINE_ROLE
        )
        out.append(
            f"machine busy {machine.cpu_percent:.0f}% of {100 * cores}% "
            f"(> {MACHINE_BUSY_SHARE:.0%} of {cores} cores): {parts}"
        )
    for role in HARNESS_ROLES:
        part = use.get(role)
        if part is None:
            continue
        per_process = part.cpu_percent / max(1, part.processes)
        if per_process > PART_SATURATED_PERCENT:
            out.append(
                f"{role} saturated: {part.cpu_percent:.0f}% CPU over {part.processes} "
                f"process(es) (> {PART_SATURATED_PERCENT:.0f}% of a core each)"
            )
    short = throughput_share is not None and throughput_share < SHORT_OF_IDEAL
    if out and short:
        out.append(
            f"the harness set this figure: throughput is {throughput_share:.0%} of the "
            "ideal while the harness had no room (see above), so it measures the harness, "
            "not the consumer"
        )
    saturated = bool(out)
    consumer = use.get(CONSUMER_ROLE)
    if short and consumer is not None:
        per_process = consumer.cpu_percent / max(1, consumer.processes)
        if per_process > CONSUMER_BOUND_PERCENT:
            out.append(
                f"consumer CPU-bound: {per_process:.0f}% of a core per process "
                f"(> {CONSUMER_BOUND_PERCENT:.0f}%), at {throughput_share:.0%} of the ideal: "
                "its own CPU, not its workers or the SMTP latency, set this figure"
            )
    return HarnessVerdict(saturated=saturated, warnings=tuple(out))
