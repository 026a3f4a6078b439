"""Topics to create on a broker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from poolbench.errors import ConfigError

DEFAULT_TOPICS_SPEC: Final = ("email-queue:8", "email-dlq:1")


@dataclass(frozen=True, slots=True, kw_only=False)
class TopicSpec:
    """A topic to create: its name and number of partitions."""

    name: str
    partitions: int = 1

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ConfigError(what="topic", expected="a name without spaces", got=self.name)
        if self.partitions < 1:
            raise ConfigError(
                "partitions must be at least 1",
                what="topic",
                got=f"{self.name}:{self.partitions}",
            )

    @classmethod
    def parse(cls, text: str) -> TopicSpec:
        """`email-queue:8` (name and partitions) or `email-dlq` (one partition)."""
        name, colon, count = text.strip().partition(":")
        if not colon:
            return cls(name)
        try:
            partitions = int(count)
        except ValueError:
            raise ConfigError(
                what="topic", expected="NAME or NAME:PARTITIONS like 'email-queue:8'", got=text
            ) from None
        return cls(name, partitions)


def default_topics() -> tuple[TopicSpec, ...]:
    return tuple(TopicSpec.parse(text) for text in DEFAULT_TOPICS_SPEC)
