"""The embedded Kafka broker and helpers for any Kafka cluster.

- `mock`: librdkafka's mock cluster in this process (`EmbeddedBroker`, ctypes);
- `relay`: in front of each mock broker, so a fetch waits no longer than ours (10 ms);
- `process`: the same in a child process of its own (`BrokerProcess`), so its CPU is
  measured apart and it never shares the caller's GIL;
- `cluster`: topics, watermarks, committed offsets (any cluster).
"""

from __future__ import annotations

from poolbench.broker.cluster import (
    CommittedOffsets,
    ensure_topics,
    list_partitions,
    wait_for_stop,
    watermarks,
)
from poolbench.broker.mock import EmbeddedBroker
from poolbench.broker.process import BrokerProcess
from poolbench.broker.topics import DEFAULT_TOPICS_SPEC, TopicSpec, default_topics
from poolbench.errors import BrokerError

__all__ = [
    "DEFAULT_TOPICS_SPEC",
    "BrokerError",
    "BrokerProcess",
    "CommittedOffsets",
    "EmbeddedBroker",
    "TopicSpec",
    "default_topics",
    "ensure_topics",
    "list_partitions",
    "wait_for_stop",
    "watermarks",
]
