"""The control channel of a broker child: one request line in, one answer line out.

`rd_kafka_mock_topic_create` only works in the process that hosts the mock cluster, so
the parent asks the child: `topic NAME PARTITIONS` is answered `ok` or `error REASON`.
Pure apart from the broker call; the CLI does the reading and writing.
"""

from __future__ import annotations

from typing import Final, Protocol

from poolbench.broker.topics import TopicSpec
from poolbench.errors import UserError

OK: Final = "ok"
ERROR: Final = "error"


class _CreatesTopics(Protocol):
    def create_topic(self, topic: TopicSpec) -> None: ...


def topic_request(name: str, partitions: int) -> str:
    """The request line that creates a topic (validated here, before it crosses)."""
    spec = TopicSpec(name, partitions)
    return f"topic {spec.name} {spec.partitions}"


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
    return f"{ERROR} unknown request {line.strip()!r}; expected 'topic NAME PARTITIONS'"
