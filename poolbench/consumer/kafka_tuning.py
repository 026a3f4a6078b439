"""The consumer's librdkafka settings that keep measured numbers true.

They live with the consumer, the system under test, because it is the one that needs them
(`ConsumerService.kafka_config`); the harness's own Kafka readers (`poolbench.merge.dlq`,
tests) import them from here, so the consumer never imports the harness.
"""

from __future__ import annotations


def kafka_tuning() -> dict[str, str | int]:
    """Consumer settings that keep measured numbers true.

    librdkafka's defaults add up to 500 ms of fetch wait and 1 s of backoff once its local
    queue fills, which would be charged to the consumer under test; a short session timeout
    makes group (re)joins on the embedded broker take seconds instead of ~45 s.
    """
    return {
        "fetch.wait.max.ms": 10,
        "fetch.queue.backoff.ms": 10,
        "session.timeout.ms": 3000,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 5000,
    }
