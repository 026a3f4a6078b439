"""The rule every run obeys, gates or not: no point may lose emails, deliver duplicates
beyond the scenario's `allow:`, or fail. Pure; the CLI turns it into exit code 1."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from poolbench.gates.absolute import describe_params
from poolbench.results import PointResult
from poolbench.scenario.model import Allow


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingVerdict:
    failures: tuple[str, ...]  # each names the point and what went wrong
    allowed: tuple[str, ...]  # losses the scenario's `allow:` let through, said anyway

    @property
    def passed(self) -> bool:
        return not self.failures


def check_accounting(points: Iterable[PointResult], allow: Allow) -> AccountingVerdict:
    failures: list[str] = []
    allowed: list[str] = []
    for point in points:
        where = f"point {describe_params(point.params)} (repeat {point.repeat})"
        if point.error is not None:
            failures.append(f"{where} failed: {point.error}")
        if point.inconsistencies:
            failures.append(f"{where}: {point.inconsistencies} accounting inconsistencies")
        for name, count, limit in (
            ("lost", point.lost, allow.lost),
            ("duplicates", point.duplicates, allow.duplicates),
        ):
            if count > limit:
                failures.append(
                    f"{where}: {name} {count} of {point.produced} emails (allow.{name}: {limit})"
                )
            elif count:
                allowed.append(f"{where}: {name} {count}, allowed by allow.{name}: {limit}")
        # More drops than allowed already failed the point (its error names the broker).
        drops = point.dropped_by_broker
        if drops and drops <= allow.retention_drops:
            allowed.append(
                f"{where}: retention_drops {drops}, allowed by allow.retention_drops: "
                f"{allow.retention_drops}"
            )
    return AccountingVerdict(failures=tuple(failures), allowed=tuple(allowed))
