import json

import pytest

from poolbench.errors import InvalidEventError
from poolbench.wire import EmailEvent, EmailMessage, decode_event, encode_event, event_to_dict


def _event() -> EmailEvent:
    return EmailEvent(
        type="welcome",
        message=EmailMessage(
            id="5f0c",
            sender="noreply@shop.example",
            to="ana@example.org",
            subject="Bienvenue, Ana",
            data={"name": "Ana"},
            priority="high",
        ),
    )


def test_round_trip_keeps_every_field() -> None:
    event = _event()
    assert decode_event(encode_event(event)) == event


def test_json_uses_the_go_field_names() -> None:
    doc = json.loads(encode_event(_event()))
    assert set(doc) == {"type", "message"}
    assert doc["message"]["from"] == "noreply@shop.example"
    assert "max_retries" not in doc["message"]  # unset: the consumer applies its own limit


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: "{not json", "malformed JSON"),
        (lambda d: [1, 2], "JSON object"),
        (lambda d: {**d, "type": ""}, "type"),
        (lambda d: {"type": "welcome"}, "message"),
        (lambda d: {**d, "message": {**d["message"], "to": "nobody"}}, "message.to"),
        (lambda d: {**d, "message": {**d["message"], "id": None}}, "message.id"),
        (lambda d: {**d, "message": {**d["message"], "priority": "urgent"}}, "priority"),
        (lambda d: {**d, "message": {**d["message"], "max_retries": -1}}, "max_retries"),
        (lambda d: {**d, "message": {**d["message"], "data": [1]}}, "message.data"),
    ],
)
def test_invalid_events_say_what_is_wrong(mutate: object, reason: str) -> None:
    doc = event_to_dict(_event())
    bad = mutate(doc)  # type: ignore[operator]
    raw = bad if isinstance(bad, str) else json.dumps(bad)
    with pytest.raises(InvalidEventError, match=reason):
        decode_event(raw.encode())


def test_none_value_is_invalid() -> None:
    with pytest.raises(InvalidEventError, match="empty"):
        decode_event(None)


def test_max_retries_absent_is_none_and_present_is_kept() -> None:
    doc = event_to_dict(_event())
    assert decode_event(json.dumps(doc).encode()).message.max_retries is None
    doc["message"]["max_retries"] = 5
    assert decode_event(json.dumps(doc).encode()).message.max_retries == 5


def test_the_module_refers_only_to_files_the_repository_holds() -> None:
    import re
    from pathlib import Path

    import poolbench.wire

    root = Path(poolbench.wire.__file__).resolve().parents[1]
    text = Path(poolbench.wire.__file__).read_text()
    for name in re.findall(r"\b([A-Za-z_-]+\.md)\b", text):
        assert (root / name).exists() or list(root.rglob(name)), name
