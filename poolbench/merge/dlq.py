"""Dead letters by id, read back from the dead-letter topic for `poolbench merge --dlq-topic`.

Shard outputs hold no dead-letter ids (the consumers only count them), so without the
topic a dead-lettered email of a distributed run would look lost. The topic may hold
letters of earlier runs too; `inputs.split_by_run` keeps those whose id carries one of this
run's id prefixes.
"""

from __future__ import annotations

import time
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from poolbench.broker import watermarks
from poolbench.consumer.dlq import read_dead_letter
from poolbench.consumer.kafka_tuning import kafka_tuning
from poolbench.errors import UnreachableError
from poolbench.merge.inputs import DeadLetters
from poolbench.wire import HEADER_ID

_POLL_S: Final = 0.2


def read_dead_letters(bootstrap_servers: str, topic: str, *, timeout: float = 30.0) -> DeadLetters:
    """Every letter on `topic` up to its current end; `UnreachableError` past `timeout`."""
    marks = watermarks(bootstrap_servers, topic, timeout)
    wanted = {p: high for p, (low, high) in marks.items() if high > low}
    by_id: dict[str, str] = {}
    without_id = 0
    if not wanted:
        return DeadLetters(topic=topic)
    consumer: Any = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "poolbench-merge-dead-letters",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **kafka_tuning(),
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in wanted])
        done: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(wanted):
            if time.monotonic() > deadline:
                raise UnreachableError(
                    f"dead-letter topic {topic}: not read to its end within {timeout:g}s"
                )
            for message in consumer.consume(num_messages=500, timeout=_POLL_S):
                if message.error() is not None:
                    continue
                letter = read_dead_letter(message.value(), message.key(), message.headers())
                raw = letter.header(HEADER_ID)
                if raw:
                    by_id[raw.decode("utf-8", "replace")] = letter.error
                else:
                    without_id += 1
                if message.offset() + 1 >= wanted[message.partition()]:
                    done.add(message.partition())
    except KafkaException as exc:
        raise UnreachableError(f"dead-letter topic {topic}: {exc}") from exc
    finally:
        consumer.close()
    return DeadLetters(by_id=by_id, without_id=without_id, topic=topic)
