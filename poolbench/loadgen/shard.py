"""Shards of one load: which events a load-generator (or sink) shard owns, and when.

One global open-model schedule is split by sequence number: shard I of N owns the
events whose global sequence number is congruent to I modulo N, at the intended times
the single-process schedule gives them. So the union of the N shards' intended times is
exactly the single-process schedule, and the shards start on one common wall-clock
origin (`--start-at`), each waiting for it (`StartAtClock`).

Ids never collide across shards: the load generator's id prefix comes from a nonce
whose lowest `SHARD_BITS` bits are the shard index (bits that the uuid4 version and
variant marks leave alone), so two shards of one run differ in their prefix.

Each shard draws its event content (templates, poison) and a sink shard its latency and
fault draws from its own random stream, derived from the common seed and the index:
with the same seed the shards are reproducible, and they are not copies of each other.

Pure, apart from `StartAtClock`, whose clock functions are injected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from poolbench.errors import ConfigError
from poolbench.loadgen.schedule import RateProfile
from poolbench.loadgen.spec import LoadSpec
from poolbench.metrics.clock import stamp_ns, wall_ns

# Shard indexes live in the low bits of the id nonce (see the module doc).
SHARD_BITS: Final = 14
MAX_SHARDS: Final = 1 << SHARD_BITS
# Nonce bits above the shard index that stay random (the events module uses 80).
_RUN_NONCE_BITS: Final = 80 - SHARD_BITS
_SHARD_TEXT: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
# Longest nap while waiting for `--start-at`, so a stop request is seen promptly.
_MAX_WAIT_NAP_S: Final = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """Shard `index` of `count` (0-based): owns global sequence numbers index + k*count."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ConfigError(
                f"shard count must be within 1..{MAX_SHARDS}", what="shard", got=self.count
            )
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"shard index must be within 0..{self.count - 1} for {self.count} shards",
                what="shard",
                got=self.index,
            )

    @property
    def text(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, seq: int) -> bool:
        return seq % self.count == self.index

    def global_seq(self, local: int) -> int:
        """The global sequence number of this shard's `local`-th event."""
        return self.index + local * self.count

    def local_count(self, total: int) -> int:
        """How many of the global sequence numbers 0 .. total-1 this shard owns."""
        if total <= self.index:
            return 0
        return (total - self.index + self.count - 1) // self.count

    def seed(self, base: int) -> int:
        """This shard's random seed, from the common one (a single shard keeps it)."""
        if self.count == 1:
            return base
        digest = hashlib.sha256(f"poolbench-shard:{base}:{self.index}/{self.count}".encode())
        return int.from_bytes(digest.digest()[:8], "big")

    def id_nonce(self, run_nonce: int | None = None) -> int:
        """An id nonce whose low bits are this shard's index (`run_nonce` random if None)."""
        if run_nonce is None:
            run_nonce = secrets.randbits(_RUN_NONCE_BITS)
        return ((run_nonce % (1 << _RUN_NONCE_BITS)) << SHARD_BITS) | self.index


def parse_shard(text: str, *, what: str = "shard") -> Shard:
    """`"I/N"` -> Shard; a `ConfigError` located at `what` when it is not a valid shard."""
    match = _SHARD_TEXT.fullmatch(text)
    if match is None:
        raise ConfigError(what=what, where=what, expected="I/N, e.g. 0/3 (shard 0 of 3)", got=text)
    index, count = int(match.group(1)), int(match.group(2))
    try:
        return Shard(index=index, count=count)
    except ConfigError as exc:
        raise ConfigError(exc.problem, what=what, where=what, got=text) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardProfile(RateProfile):
    """The share of `base`'s schedule that `shard` owns: every count-th intended time.

    `text` and `segments` stay the base profile's, so a shard's report names the load
    the shards make together.
    """

    base: RateProfile
    shard: Shard

    def offsets(self) -> Iterator[float]:
        shard = self.shard
        for seq, offset in enumerate(self.base.offsets()):
            if shard.owns(seq):
                yield offset

    def rate_at(self, t: float) -> float:
        return self.base.rate_at(t) / self.shard.count

    def expected_count(self, duration: float) -> float:
        total = self.base.expected_count(duration)
        if math.isinf(total):
            return total
        # Event i is meant at the time the cumulative count reaches i, so the events meant
        # before `duration` are 0 .. ceil(total) - 1.
        return float(self.shard.local_count(math.ceil(total)))


def shard_profile(base: RateProfile, shard: Shard) -> RateProfile:
    """`base` split for `shard`; `max` (no schedule) and a single shard stay as they are."""
    if base.is_max or shard.count == 1:
        return base
    return ShardProfile(text=base.text, segments=base.segments, base=base, shard=shard)


def shard_count(total: int | None, shard: Shard) -> int | None:
    """A shard's share of `--count` (None: no count)."""
    return None if total is None else shard.local_count(total)


class StartAtClock:
    """A `Clock` whose origin is the wall-clock instant `start_at_ns`.

    The first reading waits until the wall clock reaches `start_at_ns` (or `stop` is
    set); from then on `wall_ns()` is `start_at_ns` plus the monotonic time elapsed since
    that instant, so every shard's schedule starts at the same wall-clock origin and is
    not bent by a wall-clock step during the run. `late_ns`: how far past `start_at_ns`
    the first reading came (0 when it waited). A late shard's schedule starts when it
    starts (the load generator's origin is its first reading), so its report's
    `start_wall_ns` shows the lateness and `poolbench merge` refuses shards whose starts
    lie further apart than its clock-skew bound.
    """

    def __init__(
        self,
        start_at_ns: int,
        *,
        stop: threading.Event | None = None,
        wall: Callable[[], int] = wall_ns,
        mono: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.start_at_ns = start_at_ns
        self._stop = stop
        self._wall = wall
        self._mono = mono
        self._sleep = sleep
        self._origin_mono: float | None = None
        self.late_ns = 0

    def _arm(self) -> float:
        if self._origin_mono is not None:
            return self._origin_mono
        while True:
            ahead_ns = self.start_at_ns - self._wall()
            if ahead_ns <= 0 or (self._stop is not None and self._stop.is_set()):
                break
            self._sleep(min(ahead_ns / 1e9, _MAX_WAIT_NAP_S))
        wall_now, mono_now = self._wall(), self._mono()
        self.late_ns = max(0, wall_now - self.start_at_ns)
        # The monotonic reading at which the wall clock showed start_at_ns.
        self._origin_mono = mono_now - (wall_now - self.start_at_ns) / 1e9
        return self._origin_mono

    def watch(self, stop: threading.Event) -> StartAtClock:
        """Stop waiting for the start once `stop` is set (e.g. Ctrl-C); returns self."""
        self._stop = stop
        return self

    def monotonic(self) -> float:
        self._arm()
        return self._mono()

    def wall_ns(self) -> int:
        origin = self._arm()
        return self.start_at_ns + round((self._mono() - origin) * 1e9)

    def stamp_ns(self) -> int:
        self._arm()
        # With the system's monotonic clock, its integer reading (CLOCK_MONOTONIC both);
        # an injected one (tests) gives the stamps in its own time.
        return stamp_ns() if self._mono is time.monotonic else round(self._mono() * 1e9)


def shard_spec(spec: LoadSpec, shard: Shard, *, run_nonce: int | None = None) -> LoadSpec:
    """`spec` as shard `shard` runs it: its share of the schedule and of `count`, its
    own content seed, and an id nonce carrying its index (see the module doc)."""
    return dataclasses.replace(
        spec,
        rate=shard_profile(spec.profile, shard),
        count=shard_count(spec.count, shard),
        seed=shard.seed(spec.seed),
        id_nonce=shard.id_nonce(run_nonce),
    )


def load_params(spec: LoadSpec, shard: Shard, start_at_ns: int | None) -> dict[str, Any]:
    """What every load shard of one run must share (hashed into its manifest)."""
    return {**spec.describe(), "shards": shard.count, "start_at_ns": start_at_ns}
