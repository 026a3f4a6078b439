from __future__ import annotations

import json
import random
import uuid
from collections import Counter

import pytest

from poolbench.errors import ConfigError, InvalidEventError
from poolbench.loadgen.events import (
    POISON_KINDS,
    Event,
    EventFactory,
    EventKnobs,
    KeySpec,
    Mix,
    build_event,
    parse_priorities,
    parse_templates,
    poison_value,
    recipient,
    rfc3339,
    uuid4_text,
)
from poolbench.wire import decode_event, encode_event

T0 = 1_800_000_000_000_000_000


def _factory(seed: int = 7, nonce: int | None = 42, **knobs: object) -> EventFactory:
    return EventFactory(EventKnobs(**knobs), random.Random(seed), nonce=nonce)  # type: ignore[arg-type]


def test_uuid4_text_matches_the_standard_library() -> None:
    rng = random.Random(3)
    for _ in range(100):
        bits = rng.getrandbits(128)
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def test_event_bytes_equal_encode_event_of_the_same_event() -> None:
    factory = _factory(
        templates=parse_templates("plain:1,welcome:1,order_confirmation:2"),
        priorities=parse_priorities("high:1,low:1"),
        data_bytes=100,
    )
    for seq in range(50):
        event_id, _key, value, poison = factory.make(seq, T0 + seq * 1_000_000)
        assert poison is None
        decoded = decode_event(value)
        assert decoded.message.id == event_id.decode()
        expected = build_event(
            event_id=event_id.decode(),
            template=decoded.message.template,
            priority=decoded.message.priority,
            to=recipient(seq % 1000),
            timestamp=rfc3339(T0 // 1_000_000_000),
            data_bytes=100,
        )
        assert value == encode_event(expected)
        assert event_id.decode() in decoded.message.subject


def test_ids_are_uuid4_unique_within_and_across_runs() -> None:
    one = [_factory(nonce=None).make(i, T0)[0].decode() for i in range(3)]
    two = [_factory(nonce=None).make(i, T0)[0].decode() for i in range(3)]
    assert len(set(one) | set(two)) == 6
    for text in one:
        assert uuid.UUID(text).version == 4
        assert str(uuid.UUID(text)) == text


def test_same_seed_same_events() -> None:
    def events(seed: int) -> list[Event]:
        factory = _factory(seed=seed, keys=KeySpec.parse("hot"), poison_share=0.2)
        return [factory.make(i, T0) for i in range(200)]

    first, again, other = events(5), events(5), events(6)
    assert first == again
    assert first != other


def test_mixes_follow_their_weights() -> None:
    factory = _factory(
        templates=parse_templates("welcome:3,notification:1"),
        priorities=parse_priorities("high:1,normal:8,low:1"),
    )
    events = [decode_event(factory.make(i, T0)[2]) for i in range(4000)]
    templates = Counter(e.message.template for e in events)
    priorities = Counter(e.message.priority for e in events)
    assert 2700 < templates["welcome"] < 3300
    assert 2800 < priorities["normal"] < 3600
    assert {e.type for e in events} == {"welcome", "notification"}


def test_payload_size_grows_data() -> None:
    small = len(_factory(data_bytes=0).make(0, T0)[2])
    big = len(_factory(data_bytes=1000).make(0, T0)[2])
    assert big - small >= 1000


def test_key_distributions() -> None:
    assert {_factory().make(i, T0)[1] for i in range(10)} == {None}
    roundrobin = [_factory(keys=KeySpec.parse("roundrobin:3")).make(i, T0)[1] for i in range(6)]
    assert roundrobin == [b"user-0", b"user-1", b"user-2"] * 2
    hot = _factory(keys=KeySpec.parse("hot:0.9:2:1000"))
    keys = Counter(hot.make(i, T0)[1] for i in range(2000))
    assert keys[b"user-0"] + keys[b"user-1"] > 0.85 * 2000
    assert len(keys) > 50


def test_poison_events_are_invalid_and_counted_by_kind() -> None:
    factory = _factory(poison_share=0.1)
    kinds: Counter[str] = Counter()
    for i in range(3000):
        _id, _key, value, poison = factory.make(i, T0)
        if poison is None:
            decode_event(value)
            continue
        kinds[poison] += 1
        with pytest.raises(InvalidEventError):
            decode_event(value)
    assert set(kinds) == set(POISON_KINDS)
    assert 200 < sum(kinds.values()) < 400


def test_poison_kinds_are_what_they_say() -> None:
    valid = encode_event(
        build_event(
            event_id="x", template="plain", priority="low", to="a@b", timestamp="", data_bytes=0
        )
    )
    with pytest.raises(InvalidEventError, match="malformed JSON"):
        decode_event(poison_value("malformed_json", valid))
    with pytest.raises(InvalidEventError, match=r"message\.from"):
        decode_event(poison_value("missing_fields", valid))
    assert json.loads(poison_value("bad_address", valid))["message"]["to"] == "not-an-address"
    with pytest.raises(ConfigError):
        poison_value("cursed", valid)


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ("fancy:1", parse_templates),
        ("plain:-1", parse_templates),
        ("plain:0", parse_templates),
        ("urgent", parse_priorities),
        ("high:x", parse_priorities),
        ("high,high", parse_priorities),
    ],
)
def test_bad_mixes_are_rejected(text: str, parse: object) -> None:
    with pytest.raises(ConfigError):
        parse(text)  # type: ignore[operator]


def test_key_spec_text_round_trips_and_rejects_nonsense() -> None:
    for text in ("none", "roundrobin:7", "hot:0.5:3:100"):
        assert KeySpec.parse(text).text == text
    for bad in ("zipf", "hot:2", "hot:0.5:10:5", "roundrobin:x", "none:3"):
        with pytest.raises(ConfigError):
            KeySpec.parse(bad)
    assert Mix.parse("high:1,low:3", allowed=["high", "low"], what="p").cumulative() == (0.25, 1.0)


@pytest.mark.parametrize(
    "knobs",
    [
        EventKnobs(data_bytes=50),
        EventKnobs(keys=KeySpec(kind="roundrobin", keys=3)),
        EventKnobs(poison_share=0.3),
        EventKnobs(templates=parse_templates("plain:1,welcome:1")),
    ],
)
def test_the_fast_maker_makes_the_same_bytes(knobs: EventKnobs) -> None:
    slow = EventFactory(knobs, random.Random(3), nonce=8)
    fast = EventFactory(knobs, random.Random(3), nonce=8).maker()
    second = 1_700_000_000_000_000_000
    for seq in range(300):
        at = second + seq * 7_000_000  # crosses a few seconds
        assert fast(seq, at) == slow.make(seq, at)
