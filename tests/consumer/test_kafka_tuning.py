from __future__ import annotations

from confluent_kafka import Consumer

from poolbench.consumer.kafka_tuning import kafka_tuning


def test_kafka_tuning_is_accepted_by_a_consumer() -> None:
    tuning = kafka_tuning()
    assert int(tuning["fetch.wait.max.ms"]) <= 50
    assert int(tuning["fetch.queue.backoff.ms"]) <= 50
    assert 1000 <= int(tuning["session.timeout.ms"]) <= 10000
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g", **tuning})
    consumer.close()
