"""Kafka retention: the topics' retention.ms as a bound (decide.retention.kafka)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import kafka_topics

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("configs", "topic", "deadline", "reason"),
    [
        (
            {
                "orders": {
                    "retention.ms": "604800000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "delete",
                },
                "orders.items": {
                    "retention.ms": "86400000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "delete",
                },
            },
            "orders.items",
            T0 + timedelta(days=1),
            "TopicRetention",
        ),
        # -1: unlimited; compact-only topics have no time limit either.
        (
            {
                "a": {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
                "b": {
                    "retention.ms": "3600000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "compact",
                },
            },
            None,
            None,
            "TopicRetentionUnlimited",
        ),
        # compact,delete: the time limit applies.
        (
            {
                "c": {
                    "retention.ms": "3600000",
                    "retention.bytes": "1073741824",
                    "cleanup.policy": "compact,delete",
                }
            },
            "c",
            T0 + timedelta(hours=1),
            "TopicRetention",
        ),
        # Missing keys read as Kafka's "no limit".
        ({"d": {}}, None, None, "TopicRetentionUnlimited"),
    ],
)
def test_kafka_bound_from_described_configs(
    configs: dict[str, dict[str, str]], topic: str | None, deadline: datetime | None, reason: str
) -> None:
    topics = [kafka_topics.topic_retention_from_config(name, cfg) for name, cfg in configs.items()]
    bound = retention.kafka_bound(topics, paused_at=T0)
    assert bound is not None
    assert (bound.basis, bound.deadline, bound.reason) == (
        retention.KAFKA_RETENTION,
        deadline,
        reason,
    )
    if topic is not None:
        assert bound.figures["topic"] == topic


def test_kafka_bound_mentions_size_limits_and_lag() -> None:
    topics = [retention.TopicRetention("t", retention_ms=3_600_000, retention_bytes=1 << 30)]
    bound = retention.kafka_bound(topics, paused_at=T0, position_time=T0 - timedelta(minutes=5))
    assert bound is not None
    assert bound.deadline == T0 + timedelta(minutes=55)
    assert "retention.bytes" in bound.message and bound.figures["retentionBytes"] == 1 << 30
    assert retention.kafka_bound([], paused_at=T0) is None
