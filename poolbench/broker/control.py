"""The control channel of a broker child: one request line in, one answer line out.

`rd_kafka_mock_topic_create` only works in the process that hosts the mock cluster, so
the parent asks the child: `topic NAME PARTITIONS` is answered `ok` or `error REASON`;
`group NAME` is answered `ok TOPIC,TOPIC` (what its members subscribed to when they
joined) or `unseen` (no member joined it).
Pure apart from the broker call; the CLI does the reading and writing.
"""

from __future__ import annotations

from typing import Final, Protocol

from poolbench.broker.topics import TopicSpec
from poolbench.errors import UserError

OK: Final = "ok"
ERROR: Final = "error"
UNSEEN: Final = "unseen"


class _CreatesTopics(Protocol):
    def create_topic(self, topic: TopicSpec) -> None: ...

    def joined_topics(self, group: str) -> frozenset[str] | None: ...


def topic_request(name: str, partitions: int) -> str:
    """The request line that creates a topic (validated here, before it crosses)."""
    spec = TopicSpec(name, partitions)
    return f"topic {spec.name} {spec.partitions}"


def group_request(name: str) -> str:
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"a group name without spaces, got {name!r}")
    return f"group {name}"


def parse_group_answer(line: str) -> frozenset[str] | None:
    """The topics of a `group` answer; None for `unseen`."""
    if line == UNSEEN:
        return None
    words = line.split(maxsplit=1)
    if not words or words[0] != OK:
        raise ValueError(line.removeprefix(f"{ERROR} ").strip() or "an empty answer")
    return frozenset(t for t in (words[1] if len(words) > 1 else "").split(",") if t)


def answer(broker: _CreatesTopics, line: str) -> str:
    """Carry out one request line; the answer line (never raises for a bad request)."""
    words = line.split()
    if not words:
        return f"{ERROR} empty request"
    if words[0] == "topic" and len(words) == 3:
        try:
            partitions = int(words[2])
        except ValueError:
            return f"{ERROR} partitions must be an integer, got {words[2]!r}"
        try:
            broker.create_topic(TopicSpec(words[1], partitions))
        except UserError as exc:
            return f"{ERROR} {exc}"
        return OK
    if words[0] == "group" and len(words) == 2:
        topics = broker.joined_topics(words[1])
        return UNSEEN if topics is None else f"{OK} {','.join(sorted(topics))}".rstrip()
    return (
        f"{ERROR} unknown request {line.strip()!r}; expected 'topic NAME PARTITIONS' "
        "or 'group NAME'"
    )
