"""Seeded generation of the events the load generator sends (pure: no I/O, no clock).

Knobs: key distribution, template mix, priority mix, payload size (size of `data`), and
a share of poison events (malformed JSON, missing fields, bad address) for the DLQ path.
The same knobs and seed give the same events, byte for byte.

Speed matters here: at 100k events/s each event may cost only a few microseconds, so
each (template, priority) combination is encoded once with `wire.encode_event` and later
events only fill its id, recipient and timestamp in with one bytes-format operation. A
test proves the result equals `encode_event` of the same event.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

from poolbench.errors import ConfigError
from poolbench.wire import EVENT_TYPES, PRIORITIES, EmailEvent, EmailMessage, encode_event

TEMPLATES: Final = ("plain", *sorted(EVENT_TYPES))
POISON_KINDS: Final = ("malformed_json", "missing_fields", "bad_address")
KEY_KINDS: Final = ("none", "roundrobin", "hot")
SENDER: Final = "noreply@poolbench.test"
RECIPIENT_DOMAIN: Final = "poolbench.test"
# The seed's plain template is not one of the event types; its events say "notification".
_PLAIN_TYPE: Final = "notification"
_SUBJECTS: Final = {
    "plain": "Message",
    "password_reset": "Reset your password",
    "welcome": "Welcome",
    "notification": "Notification",
    "order_confirmation": "Your order",
}

# Placeholders that cannot occur in encoded JSON of our own making.
_ID: Final = "@@POOLBENCH-ID@@"
_TO: Final = "@@POOLBENCH-TO@@"
_TS: Final = "@@POOLBENCH-TS@@"

# uuid4 from 128 random bits: set the version (4) and the RFC 4122 variant bits.
_UUID_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_SET: Final = (0x8000 << 48) | (4 << 76)
# Random bits of the per-run id prefix, above the 48-bit sequence number (uuid4's version
# and variant marks overwrite 6 of them).
_NONCE_BITS: Final = 80

# (id as ASCII bytes, key, value, poison kind or None): a plain tuple, as it is built
# 100k times a second.
Event: TypeAlias = tuple[bytes, bytes | None, bytes, str | None]


def uuid4_text(bits: int) -> str:
    """The uuid4 string of 128 random bits; same as `str(uuid.UUID(int=bits, version=4))`."""
    value = (bits & _UUID_CLEAR) | _UUID_SET
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mix:
    """Weighted choice among names: `high:1,normal:8,low:1` (weights need not sum to 1)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, text: str, *, allowed: Sequence[str], what: str) -> Mix:
        names: list[str] = []
        weights: list[float] = []
        for item in text.split(","):
            name, colon, weight_text = item.strip().partition(":")
            name = name.strip()
            if name not in allowed:
                raise ConfigError(
                    f"unknown name {name!r}; choose from {', '.join(allowed)}",
                    what=what,
                    where=what,
                    got=text,
                )
            try:
                weight = float(weight_text) if colon else 1.0
            except ValueError:
                raise ConfigError(
                    f"weight of {name} is not a number", what=what, where=what, got=text
                ) from None
            if not weight >= 0:  # also rejects NaN
                raise ConfigError(
                    f"weight of {name} must not be negative", what=what, where=what, got=text
                )
            if name in names:
                raise ConfigError(f"{name} appears twice", what=what, where=what, got=text)
            names.append(name)
            weights.append(weight)
        if sum(weights) <= 0:
            raise ConfigError(
                "at least one weight must be positive", what=what, where=what, got=text
            )
        return cls(names=tuple(names), weights=tuple(weights))

    @property
    def text(self) -> str:
        return ",".join(f"{n}:{w:g}" for n, w in zip(self.names, self.weights, strict=True))

    def cumulative(self) -> tuple[float, ...]:
        total = sum(self.weights)
        running, out = 0.0, []
        for weight in self.weights:
            running += weight / total
            out.append(running)
        out[-1] = 1.0
        return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeySpec:
    """How message keys are chosen.

    `none`: no key (the producer's partitioner spreads batches); `roundrobin[:KEYS]`:
    keys `user-0` .. `user-{KEYS-1}` in turn; `hot[:SHARE[:HOT[:KEYS]]]`: a SHARE of events
    (default 0.8) use one of HOT keys (default 10), the rest one of KEYS (default 1000).
    """

    kind: str = "none"
    keys: int = 1000
    hot_share: float = 0.8
    hot_keys: int = 10

    def __post_init__(self) -> None:
        if self.kind not in KEY_KINDS:
            raise ConfigError(
                "unknown kind; choose from none, roundrobin, hot", what="keys", got=self.kind
            )
        if self.keys < 1:
            raise ConfigError("need at least 1 key", what="keys", got=self.keys)
        if self.kind == "hot" and not 1 <= self.hot_keys <= self.keys:
            raise ConfigError(
                "need 1 <= hot keys <= keys", what="keys", got=(self.hot_keys, self.keys)
            )
        if not 0.0 <= self.hot_share <= 1.0:
            raise ConfigError("hot share must be within 0..1", what="keys", got=self.hot_share)

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        kind, *fields = [part.strip() for part in text.strip().split(":")]
        usage = ConfigError(
            what="keys", expected="none, roundrobin[:KEYS] or hot[:SHARE[:HOT[:KEYS]]]", got=text
        )
        numbers: list[float] = []
        for item in fields:
            try:
                numbers.append(float(item))
            except ValueError:
                raise usage from None
        if any(n != int(n) for n in numbers[1 if kind == "hot" else 0 :]):
            raise usage
        if kind == "none" and not numbers:
            return cls()
        if kind == "roundrobin" and len(numbers) <= 1:
            return cls(kind=kind, keys=int(numbers[0]) if numbers else 1000)
        if kind == "hot" and len(numbers) <= 3:
            defaults = [0.8, 10, 1000]
            share, hot, keys = numbers + defaults[len(numbers) :]
            return cls(kind=kind, hot_share=share, hot_keys=int(hot), keys=int(keys))
        raise usage

    @property
    def text(self) -> str:
        if self.kind == "roundrobin":
            return f"roundrobin:{self.keys}"
        if self.kind == "hot":
            return f"hot:{self.hot_share:g}:{self.hot_keys}:{self.keys}"
        return "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventKnobs:
    keys: KeySpec = KeySpec()
    templates: Mix = Mix(names=("plain",), weights=(1.0,))
    priorities: Mix = Mix(names=("normal",), weights=(1.0,))
    data_bytes: int = 0
    poison_share: float = 0.0

    def __post_init__(self) -> None:
        if self.data_bytes < 0:
            raise ConfigError("must not be negative", what="data_bytes", got=self.data_bytes)
        if not 0.0 <= self.poison_share <= 1.0:
            raise ConfigError("share must be within 0..1", what="poison", got=self.poison_share)


def parse_templates(text: str) -> Mix:
    return Mix.parse(text, allowed=TEMPLATES, what="templates")


def parse_priorities(text: str) -> Mix:
    return Mix.parse(text, allowed=sorted(PRIORITIES), what="priorities")


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_type(template: str) -> str:
    return template if template in EVENT_TYPES else _PLAIN_TYPE


def build_event(
    *, event_id: str, template: str, priority: str, to: str, timestamp: str, data_bytes: int
) -> EmailEvent:
    """The valid event of the given parts (the slow, readable definition of an event)."""
    data: dict[str, object] = {"name": "Customer"}
    if data_bytes > 0:
        data["padding"] = "x" * data_bytes
    return EmailEvent(
        type=_event_type(template),
        message=EmailMessage(
            id=event_id,
            sender=SENDER,
            to=to,
            # The id is in the subject so a sink can match emails of a consumer that does
            # not pass the poolbench headers through.
            subject=f"{_SUBJECTS[template]} [{event_id}]",
            template=template,
            data=data,
            priority=priority,
            timestamp=timestamp,
        ),
    )


def recipient(index: int) -> str:
    return f"user{index}@{RECIPIENT_DOMAIN}"


def _compile(template: str, priority: str, data_bytes: int) -> bytes:
    """A bytes %-format string of the encoded event with (id, recipient, id, time) open."""
    encoded = encode_event(
        build_event(
            event_id=_ID,
            template=template,
            priority=priority,
            to=_TO,
            timestamp=_TS,
            data_bytes=data_bytes,
        )
    )
    sentinels = [_ID.encode(), _TO.encode(), _TS.encode()]
    order = sorted(
        (pos, s) for s in sentinels for pos in range(len(encoded)) if encoded.startswith(s, pos)
    )
    if [s for _pos, s in order] != [sentinels[0], sentinels[1], sentinels[0], sentinels[2]]:
        raise AssertionError(f"unexpected field order in the encoded event: {order}")
    return (
        encoded.replace(b"%", b"%%")
        .replace(sentinels[0], b"%s")
        .replace(sentinels[1], recipient(0).replace("0", "%d", 1).encode())
        .replace(sentinels[2], b"%s")
    )


def poison_value(kind: str, valid: bytes) -> bytes:
    """A deliberately invalid value of the given kind, made from a valid encoded event."""
    if kind == "malformed_json":
        return valid[: len(valid) // 2]
    doc = json.loads(valid)
    if kind == "missing_fields":
        for field in ("from", "to"):
            doc["message"].pop(field, None)
    elif kind == "bad_address":
        doc["message"]["to"] = "not-an-address"
    else:
        raise ConfigError("unknown kind of poison event", what="poison", got=kind)
    return json.dumps(doc, separators=(",", ":")).encode()


class EventFactory:
    """Makes event number `seq` for a given intended send time; seeded, so reproducible.

    Everything but the ids follows from the seed. Ids are uuid4-shaped: 74 random bits of a
    per-run `nonce` (random unless given) and the 48-bit sequence number, so they are
    unique across runs and cost one format operation each.
    """

    def __init__(self, knobs: EventKnobs, rng: random.Random, *, nonce: int | None = None):
        self._knobs = knobs
        self._rng = rng
        if nonce is None:
            nonce = random.SystemRandom().getrandbits(_NONCE_BITS)
        self.id_prefix = uuid4_text((nonce % (1 << _NONCE_BITS)) << 48)[:24]
        self._id_prefix = self.id_prefix.encode()
        self._templates = knobs.templates.names
        self._template_cum = knobs.templates.cumulative()
        self._priorities = knobs.priorities.names
        # With a mix of priorities, each event's first letter (h, n, l) in sequence
        # order, so results can be split by priority for any consumer.
        self.priority_codes: list[str] | None = [] if len(self._priorities) > 1 else None
        self._priority_cum = knobs.priorities.cumulative()
        self._formats = {
            (t, p): _compile(t, p, knobs.data_bytes)
            for t in self._templates
            for p in self._priorities
        }
        self._single_format = (
            self._formats[self._templates[0], self._priorities[0]]
            if len(self._formats) == 1
            else None
        )
        self._ts_second = -1
        self._ts = b""
        self._key_bytes = [f"user-{k}".encode() for k in range(knobs.keys.keys)]
        self._key_kind = knobs.keys.kind
        self._recipients = knobs.keys.keys
        self._poison_share = knobs.poison_share

    def event_id(self, seq: int) -> str:
        return f"{self.id_prefix}{seq:012x}"

    @staticmethod
    def _pick(names: tuple[str, ...], cumulative: tuple[float, ...], roll: float) -> str:
        for name, edge in zip(names, cumulative, strict=True):
            if roll < edge:
                return name
        return names[-1]

    def _key(self, seq: int) -> tuple[bytes | None, int]:
        spec = self._knobs.keys
        if self._key_kind == "none":
            return None, seq % spec.keys
        if self._key_kind == "roundrobin":
            index = seq % spec.keys
        elif self._rng.random() < spec.hot_share:
            index = self._rng.randrange(spec.hot_keys)
        else:
            index = self._rng.randrange(spec.keys)
        return self._key_bytes[index], index

    def maker(self) -> Callable[[int, int], Event]:
        """`make`, or for the plain case (one template and priority, no keys, no poison)
        a closure with everything bound that makes the same bytes in about half the time.
        """
        form = self._single_format
        if form is None or self._poison_share > 0 or self._key_kind != "none":
            return self.make
        prefix = self._id_prefix
        recipients = self._recipients
        stamp: list[Any] = [-1, b""]  # the second and its RFC 3339 text, as in `make`

        def make_plain(seq: int, intended_ns: int) -> Event:
            event_id = prefix + b"%012x" % seq
            second = intended_ns // 1_000_000_000
            if second != stamp[0]:
                stamp[0], stamp[1] = second, rfc3339(second).encode()
            return event_id, None, form % (event_id, seq % recipients, event_id, stamp[1]), None

        return make_plain

    def make(self, seq: int, intended_ns: int) -> Event:
        """(id, key, value, poison kind or None) of event `seq` meant at `intended_ns`
        (wall time: it only dates the event)."""
        rng = self._rng
        event_id = self._id_prefix + b"%012x" % seq
        poison = (
            POISON_KINDS[rng.randrange(len(POISON_KINDS))]
            if self._poison_share > 0 and rng.random() < self._poison_share
            else None
        )
        form = self._single_format
        if form is None:
            template = self._pick(self._templates, self._template_cum, rng.random())
            priority = self._pick(self._priorities, self._priority_cum, rng.random())
            form = self._formats[template, priority]
            if self.priority_codes is not None:
                self.priority_codes.append(priority[0])
        if self._key_kind == "none":
            key, index = None, seq % self._recipients
        else:
            key, index = self._key(seq)
        second = intended_ns // 1_000_000_000
        if second != self._ts_second:
            self._ts_second = second
            self._ts = rfc3339(second).encode()
        value = form % (event_id, index, event_id, self._ts)
        if poison is not None:
            value = poison_value(poison, value)
        return event_id, key, value, poison
