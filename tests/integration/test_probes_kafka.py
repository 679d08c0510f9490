"""The topic-retention probe against a real Kafka broker (KRaft, from tests/env/kafka.py)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, kafka_topics
from tests.env.kafka import KafkaServer
from tests.env.processes import free_port

PAUSED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def create_topics(kafka: KafkaServer, configs: dict[str, dict[str, str]]) -> dict[str, str]:
    """Create uniquely named topics; returns {short name: real name}."""
    suffix = uuid.uuid4().hex[:8]
    names = {short: f"{short}-{suffix}" for short in configs}
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    futures = admin.create_topics(
        [
            NewTopic(names[s], num_partitions=1, replication_factor=1, config=c)
            for s, c in configs.items()
        ],
        request_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=30)
    # The controller acks the creation before the broker's metadata has the
    # topic; wait (bounded) until it does, as any topic in production would.
    deadline = time.monotonic() + 30
    while not set(names.values()) <= set(admin.list_topics(timeout=5).topics):
        assert time.monotonic() < deadline, f"topics {names} not in the broker's metadata"
        time.sleep(0.1)
    return names


async def test_retention_ms_is_read_and_the_shortest_binds(kafka_server: KafkaServer) -> None:
    names = create_topics(
        kafka_server,
        {
            "orders": {"retention.ms": str(7 * 24 * 3600 * 1000)},
            "items": {"retention.ms": str(6 * 3600 * 1000), "retention.bytes": str(1 << 30)},
            "forever": {"retention.ms": "-1"},
            "compacted": {"cleanup.policy": "compact", "retention.ms": "60000"},
        },
    )
    started = time.monotonic()
    found = await kafka_topics.probe_topic_retention(
        {"bootstrap.servers": kafka_server.bootstrap}, topics=names.values(), timeout_s=20
    )
    print(f"\ndescribe_configs of 4 topics: {time.monotonic() - started:.2f}s")
    assert found[names["orders"]].retention_ms == 7 * 24 * 3600 * 1000
    assert found[names["items"]].retention_bytes == 1 << 30
    assert found[names["forever"]].retention_ms == -1
    assert found[names["compacted"]].cleanup_policy == "compact"
    bound = retention.kafka_bound(found.values(), paused_at=PAUSED_AT)
    assert bound is not None
    assert bound.basis == "kafka:retention.ms"
    assert bound.figures["topic"] == names["items"]
    assert bound.deadline == PAUSED_AT + timedelta(hours=6)


async def test_broker_default_retention_is_reported(kafka_server: KafkaServer) -> None:
    names = create_topics(kafka_server, {"plain": {}})
    found = await kafka_topics.probe_topic_retention(
        {"bootstrap.servers": kafka_server.bootstrap}, topics=names.values()
    )
    assert found[names["plain"]].retention_ms == 7 * 24 * 3600 * 1000  # Kafka's default: 7 days


async def test_missing_topic_is_topic_not_found(kafka_server: KafkaServer) -> None:
    with pytest.raises(errors.TopicNotFoundError) as info:
        await kafka_topics.probe_topic_retention(
            {"bootstrap.servers": kafka_server.bootstrap},
            topics=[f"no-such-topic-{uuid.uuid4().hex[:8]}"],
            timeout_s=10,
        )
    assert info.value.reason == "TopicNotFound"


async def test_no_broker_is_source_unreachable_within_the_bound() -> None:
    started = time.monotonic()
    with pytest.raises(errors.SourceUnreachableError) as info:
        await kafka_topics.probe_topic_retention(
            {"bootstrap.servers": f"127.0.0.1:{free_port()}", "sasl.password": "hunter2-secret"},
            topics=["t"],
            timeout_s=3,
        )
    assert time.monotonic() - started < 10
    assert "hunter2-secret" not in str(info.value)
