"""Kafka Connect's offsets topic, written as a Connect worker writes it.

Why this exists: the offsets-topic tests (the reader against a real broker,
the operator holding a pause on it) need the records Connect writes to its
``offset.storage.topic`` without running Connect: a compacted topic, the key
``["<connector>",{<source partition>}]`` and the offset as JSON (the
worker's internal JsonConverter, schemas off), null to reset, and, as an
exactly-once worker does, in transactions.  The e2e tests read the topic the
real worker wrote (tests/e2e/test_stage_from_offsets_topic.py), which is how
this format is known to be the real one.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.env.kafka import KafkaServer

PARTITIONS = 3  # Connect's default is 25; a few are enough to spread the keys
# Debezium 3.x PostgreSQL offsets during the initial snapshot, and once streaming.
SNAPSHOT = {
    "last_snapshot_record": False,
    "lsn": 100,
    "snapshot": "INITIAL",
    "snapshot_completed": False,
}
STREAMING = {"lsn_proc": 200, "lsn": 200, "txId": 9, "ts_usec": 1}


def offsets_topic(kafka: KafkaServer, partitions: int = PARTITIONS) -> str:
    """A compacted topic, as Connect makes its offsets topic; its (unique) name."""
    name = f"connect-offsets-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                config={"cleanup.policy": "compact"},
            )
        ],
        request_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    while name not in admin.list_topics(timeout=5).topics:
        assert time.monotonic() < deadline, f"topic {name} not in the broker's metadata"
        time.sleep(0.1)
    return name


def key(connector: str, server: str) -> bytes:
    """A Debezium PostgreSQL/MySQL record key: compact JSON, as the worker writes it."""
    return json.dumps([connector, {"server": server}], separators=(",", ":")).encode()


def write(
    kafka: KafkaServer,
    topic: str,
    records: list[tuple[str, str, dict[str, Any] | None]],
    *,
    transactional: str | None = None,
    commit: bool = True,
) -> Producer:
    """Produce (connector, server, offset or None) records; the producer, for a transaction."""
    config: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap}
    if transactional:
        config["transactional.id"] = transactional
    producer = Producer(config)
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for connector, server, offset in records:
        value = None if offset is None else json.dumps(offset).encode()
        producer.produce(topic, key=key(connector, server), value=value)
    if transactional and commit:
        producer.commit_transaction(30)
    producer.flush(30)
    return producer
