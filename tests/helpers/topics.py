"""Kafka topics as a paused job's sink leaves them: records written at chosen times, a
consumer group committed at a chosen offset.

Why this exists: the Kafka probe tests and the operator's retention tests both
set a real broker (tests/env/kafka.py) up this way; written once.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.env.kafka import KafkaServer


def create_partitioned(kafka: KafkaServer, partitions: int, config: dict[str, str]) -> str:
    """A new, uniquely named topic with ``partitions`` partitions, in the broker's metadata."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)],
        request_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    while name not in admin.list_topics(timeout=5).topics:
        assert time.monotonic() < deadline, f"topic {name} not in the broker's metadata"
        time.sleep(0.1)
    return name


def produce(kafka: KafkaServer, topic: str, partition: int, timestamps: list[datetime]) -> None:
    """Records at these (CreateTime) timestamps, in order, acknowledged by the broker."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    for i, at in enumerate(timestamps):
        producer.produce(
            topic, value=b"event-%d" % i, partition=partition, timestamp=int(at.timestamp() * 1000)
        )
    assert producer.flush(30) == 0, "records not acknowledged within 30s"


def commit(kafka: KafkaServer, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for a group with no members, as a paused sink leaves it.

    Through a Consumer of that group that never subscribes (as the probe
    reads them), not the AdminClient: librdkafka 2.16's
    list_consumer_group_offsets crashed this process when the coordinator was
    still loading.  On a broker that has just created __consumer_offsets a
    commit can fail with COORDINATOR_LOAD_IN_PROGRESS: commit again until it
    reads back (bounded).
    """
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    wanted = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(offsets=wanted, asynchronous=False)
                answer = consumer.committed([TopicPartition(t, p) for t, p in offsets], timeout=30)
                read: object = {(tp.topic, tp.partition): tp.offset for tp in answer}
            except KafkaException as exc:
                read = exc
            if read == offsets:
                return
            assert time.monotonic() < deadline, f"group {group} reads back {read}, not {offsets}"
            time.sleep(0.5)
    finally:
        consumer.close()
