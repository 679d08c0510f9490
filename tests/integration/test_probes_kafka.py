"""The topic-retention probe against a real Kafka broker (KRaft, from tests/env/kafka.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, kafka_sinks, kafka_topics
from tests.env.kafka import KafkaServer
from tests.env.processes import free_port
from tests.helpers.topics import commit, create_partitioned, produce

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


# --- where the sink stands: the deadline anchored at its oldest unread record ----------


async def kafka_bound_now(
    kafka: KafkaServer, topics: list[str], groups: list[str], paused_at: datetime
) -> retention.RetentionBound:
    config = {"bootstrap.servers": kafka.bootstrap}
    found = await kafka_topics.probe_topic_retention(config, topics=topics, timeout_s=20)
    sinks = await kafka_sinks.probe_sink_positions(
        config, topics=topics, groups=groups, timeout_s=20
    )
    bound = retention.kafka_bound(found.values(), paused_at=paused_at, sinks=sinks)
    assert bound is not None
    return bound


async def test_the_deadline_counts_from_the_oldest_record_the_sink_has_not_read(
    kafka_server: KafkaServer,
) -> None:
    paused_at = datetime.now(UTC).replace(microsecond=0)
    hour = timedelta(hours=1)
    topic = create_partitioned(kafka_server, 2, {"retention.ms": str(3600 * 1000)})
    # Partition 0: written from 40 minutes before the pause, read up to offset 2.
    written = [paused_at - timedelta(minutes=40 - i) for i in range(6)]
    produce(kafka_server, topic, 0, written)
    # Partition 1: read to the end.
    produce(kafka_server, topic, 1, [paused_at - timedelta(minutes=50)] * 3)
    commit(kafka_server, "connect-orders-sink", {(topic, 0): 2, (topic, 1): 3})
    # A second sink further on in partition 0 does not bind.
    commit(kafka_server, "connect-audit-sink", {(topic, 0): 5, (topic, 1): 3})

    started = time.monotonic()
    bound = await kafka_bound_now(
        kafka_server, [topic], ["connect-orders-sink", "connect-audit-sink"], paused_at
    )
    print(
        f"\nretention + sink positions of 2 partitions, 2 groups: {time.monotonic() - started:.2f}s"
    )
    assert bound.deadline == written[2] + hour  # not paused_at + 1h
    assert bound.deadline < paused_at + hour
    assert (bound.lost, bound.checked, bound.reason) == (False, True, "TopicRetention")
    assert bound.figures["partition"] == 0 and bound.figures["unreadOffset"] == 2
    assert bound.figures["consumerGroup"] == "connect-orders-sink"
    assert "offset 2 of 6" in bound.message

    # Everything read: records written after the pause bind, pausedAt + retention.ms.
    commit(kafka_server, "connect-orders-sink", {(topic, 0): 6})
    bound = await kafka_bound_now(kafka_server, [topic], ["connect-orders-sink"], paused_at)
    assert (bound.deadline, bound.checked) == (paused_at + hour, True)
    assert "has read all of" in bound.message


async def test_a_group_that_committed_nothing_counts_from_the_pause(
    kafka_server: KafkaServer,
) -> None:
    paused_at = datetime.now(UTC).replace(microsecond=0)
    topic = create_partitioned(kafka_server, 1, {"retention.ms": str(3600 * 1000)})
    produce(kafka_server, topic, 0, [paused_at - timedelta(minutes=30)])
    bound = await kafka_bound_now(kafka_server, [topic], ["connect-nobody"], paused_at)
    assert (bound.deadline, bound.checked, bound.lost) == (
        paused_at + timedelta(hours=1),
        False,
        False,
    )
    assert "counted from the pause" in bound.message
    assert "connect-nobody has committed no offset" in bound.message
    assert "sinkConsumerGroups" in bound.message


async def test_records_kafka_deleted_before_the_sink_read_them_are_lost(
    kafka_server: KafkaServer,
) -> None:
    # A 3-second retention; the broker checks retention every second (the fixture).
    topic = create_partitioned(kafka_server, 1, {"retention.ms": "3000"})
    produce(kafka_server, topic, 0, [datetime.now(UTC)] * 5)
    commit(kafka_server, "connect-slow-sink", {(topic, 0): 1})
    paused_at = datetime.now(UTC)
    started = time.monotonic()
    seen: list[tuple[float, retention.RetentionBound]] = []
    while True:
        bound = await kafka_bound_now(kafka_server, [topic], ["connect-slow-sink"], paused_at)
        seen.append((time.monotonic() - started, bound))
        if bound.lost:
            break
        # Generous: Kafka deletes within seconds here, a loaded machine may take longer.
        assert time.monotonic() - started < 180, f"Kafka kept the records: {bound.message}"
        await asyncio.sleep(0.5)
    first = seen[0][1]
    print(
        f"\nKafka deleted the segment {seen[-1][0]:.1f}s after the commit ({len(seen)} probes); "
        f"before that: {first.message if not first.lost else '(lost at the first probe)'}"
    )
    assert (bound.reason, bound.checked, bound.deadline) == ("TopicRecordsDeleted", True, None)
    assert f"topic {topic} partition 0" in bound.message
    assert "deleted 4 records" in bound.message and "committed offset 1" in bound.message
    assert bound.figures["recordsLost"] == 4
    # Before the deletion the bound was checked, and anchored at the unread record;
    # or, when Kafka deleted the record between the offsets and its fetch, it said
    # it could not read it (and counted from the pause).
    for _, earlier in seen[:-1]:
        assert earlier.checked and not earlier.lost, earlier
        assert earlier.figures.get("unreadOffset") == 1 or "could not be read" in earlier.message, (
            earlier
        )
