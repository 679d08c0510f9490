"""Kafka retention: the topics' retention.ms counted from the sink's oldest unread record.

The positions are what the probe reads from a real broker (tests/integration/
test_probes_kafka.py checks the reading); here, the formula on tables of them.
"""

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
    lagging = position("t", committed=7, high=9, unread_time=T0 - timedelta(minutes=5))
    bound = retention.kafka_bound(topics, paused_at=T0, sinks=sinks(lagging))
    assert bound is not None
    assert bound.deadline == T0 + timedelta(minutes=55)
    assert "retention.bytes" in bound.message and bound.figures["retentionBytes"] == 1 << 30
    assert retention.kafka_bound([], paused_at=T0) is None


HOUR = retention.TopicRetention("orders", retention_ms=3_600_000)
DAY = retention.TopicRetention("items", retention_ms=86_400_000)


def position(
    topic: str = "orders",
    partition: int = 0,
    *,
    group: str = "connect-sink",
    committed: int | None,
    low: int = 0,
    high: int = 10,
    unread_time: datetime | None = None,
) -> retention.PartitionPosition:
    return retention.PartitionPosition(topic, partition, group, committed, low, high, unread_time)


def sinks(*positions: retention.PartitionPosition) -> retention.SinkPositions:
    return retention.SinkPositions(
        positions=positions, groups=tuple(sorted({p.group for p in positions}))
    )


@pytest.mark.parametrize(
    ("topics", "positions", "deadline", "checked", "figures"),
    [
        # The sink lagged 40 minutes: the deadline is 40 minutes before pausedAt + 1h.
        (
            [HOUR],
            [position(committed=3, unread_time=T0 - timedelta(minutes=40))],
            T0 + timedelta(minutes=20),
            True,
            {"partition": 0, "unreadOffset": 3, "consumerGroup": "connect-sink"},
        ),
        # Read to the end: records written after the pause bind.
        ([HOUR], [position(committed=10)], T0 + timedelta(hours=1), True, {"partition": 0}),
        # An unread record stamped after the pause (a producer's clock): never later than
        # pausedAt + retention.ms.
        (
            [HOUR],
            [position(committed=3, unread_time=T0 + timedelta(minutes=10))],
            T0 + timedelta(hours=1),
            True,
            {"unreadOffset": 3},
        ),
        # The earliest partition binds, whatever its topic's retention.
        (
            [HOUR, DAY],
            [
                position("orders", 0, committed=10),
                position("orders", 1, committed=2, unread_time=T0 - timedelta(minutes=5)),
                position("items", 0, committed=1, unread_time=T0 - timedelta(hours=23, minutes=30)),
            ],
            T0 + timedelta(minutes=30),
            True,
            {"topic": "items", "partition": 0, "retentionMs": 86_400_000},
        ),
        # Two groups in one partition: the slowest binds, a faster one cannot lose first.
        (
            [HOUR],
            [
                position(group="connect-audit", committed=9),
                position(group="connect-sink", committed=4, unread_time=T0 - timedelta(minutes=1)),
            ],
            T0 + timedelta(minutes=59),
            True,
            {"consumerGroup": "connect-sink", "unreadOffset": 4},
        ),
        # A partition the group has committed nothing in, in a topic it reads: Connect's
        # sink starts at the earliest record, so the oldest record binds.
        (
            [HOUR],
            [
                position(partition=0, committed=10),
                position(
                    partition=1, committed=None, low=4, unread_time=T0 - timedelta(minutes=45)
                ),
            ],
            T0 + timedelta(minutes=15),
            True,
            {"partition": 1, "unreadOffset": 4},
        ),
        # The unread record could not be read: from the pause; the offsets still tell a
        # loss, so checked.
        ([HOUR], [position(committed=3)], T0 + timedelta(hours=1), True, {"partition": 0}),
        # A topic no group reads (another sink's, or a group override): from the pause.
        (
            [HOUR, DAY],
            [
                position("items", committed=10),
                position("orders", group="connect-sink2", committed=None),
            ],
            T0 + timedelta(hours=1),
            False,
            {"topic": "orders"},
        ),
    ],
)
def test_kafka_bound_from_the_sinks_positions(
    topics: list[retention.TopicRetention],
    positions: list[retention.PartitionPosition],
    deadline: datetime,
    checked: bool,
    figures: dict[str, object],
) -> None:
    bound = retention.kafka_bound(topics, paused_at=T0, sinks=sinks(*positions))
    assert bound is not None
    assert (bound.basis, bound.reason, bound.lost) == (
        retention.KAFKA_RETENTION,
        "TopicRetention",
        False,
    )
    assert (bound.deadline, bound.checked) == (deadline, checked)
    assert {k: bound.figures.get(k) for k in figures} == figures
    assert bound.lost_at(T0 + timedelta(days=2)) is not checked  # checked: only Kafka says lost


def test_kafka_bound_messages_name_the_anchor() -> None:
    lag = position(committed=3, high=10, unread_time=datetime(2026, 11, 24, 9, 20, tzinfo=UTC))
    bound = retention.kafka_bound([HOUR], paused_at=T0, sinks=sinks(lag))
    assert bound is not None
    assert bound.message == (
        "The oldest record sink group connect-sink has not read in topic orders partition 0 "
        "(offset 3 of 10, written 2026-11-24T09:20:00Z) is kept for 1h after it."
    )
    unread = retention.kafka_bound([HOUR], paused_at=T0, sinks=sinks(position(committed=3)))
    assert unread is not None and "could not be read" in unread.message
    assert "may be late" in unread.message


@pytest.mark.parametrize(
    ("sink_positions", "why"),
    [
        (None, "the sink's consumer group was not read"),
        (
            retention.SinkPositions(unknown="no sink consumer group is known"),
            "no sink consumer group is known",
        ),
        (
            retention.SinkPositions(groups=("connect-orders-sink",)),
            "sink group connect-orders-sink has committed no offset on topic orders",
        ),
    ],
)
def test_kafka_bound_without_positions_counts_from_the_pause(
    sink_positions: retention.SinkPositions | None, why: str
) -> None:
    bound = retention.kafka_bound([HOUR], paused_at=T0, sinks=sink_positions)
    assert bound is not None
    assert (bound.deadline, bound.checked, bound.lost) == (T0 + timedelta(hours=1), False, False)
    assert "counted from the pause" in bound.message and why in bound.message
    assert bound.lost_at(T0 + timedelta(hours=1))  # unchecked: the deadline is the loss


@pytest.mark.parametrize(
    ("topics", "positions", "lost", "message"),
    [
        (
            [HOUR],
            [position(committed=2, low=6)],
            4,
            "Kafka deleted 4 records of topic orders partition 0 that sink group connect-sink "
            "had not read (committed offset 2, log start offset 6): those events are gone and "
            "the job needs a new snapshot.",
        ),
        # The partition that lost most names the loss; the count is of all; a second group
        # in a partition does not count its records twice.
        (
            [HOUR, DAY],
            [
                position("orders", 0, committed=2, low=3),
                position("items", 1, committed=0, low=50),
                position("items", 1, group="connect-audit", committed=10, low=50),
            ],
            51,
            "Kafka deleted 50 records of topic items partition 1 that sink group connect-sink "
            "had not read (committed offset 0, log start offset 50) (and 1 more partition)",
        ),
        # Compacted or unlimited topics: a log start past the sink (deleteRecords) is a loss too.
        (
            [retention.TopicRetention("orders", retention_ms=-1)],
            [position(committed=0, low=1)],
            1,
            "Kafka deleted 1 record of topic orders partition 0",
        ),
    ],
)
def test_kafka_bound_loss_is_read_from_the_log_start_offset(
    topics: list[retention.TopicRetention],
    positions: list[retention.PartitionPosition],
    lost: int,
    message: str,
) -> None:
    bound = retention.kafka_bound(topics, paused_at=T0, sinks=sinks(*positions))
    assert bound is not None
    assert (bound.lost, bound.checked, bound.reason, bound.deadline) == (
        True,
        True,
        "TopicRecordsDeleted",
        None,
    )
    assert bound.figures["recordsLost"] == lost
    assert message in bound.message


def test_at_the_log_start_is_not_a_loss() -> None:
    at_start = position(committed=6, low=6, high=8, unread_time=T0 - timedelta(minutes=1))
    bound = retention.kafka_bound([HOUR], paused_at=T0, sinks=sinks(at_start))
    assert bound is not None and not bound.lost and bound.deadline == T0 + timedelta(minutes=59)


@pytest.mark.parametrize(
    ("positions", "wanted"),
    [
        ([position(committed=3)], [("orders", 0, 3)]),
        # Nothing unread, or the unread record gone (a loss): nothing to read.
        ([position(committed=10), position(partition=1, committed=1, low=5)], []),
        # Uncommitted partition of a topic the group reads: from the log start.
        (
            [position(partition=0, committed=10), position(partition=1, committed=None, low=4)],
            [("orders", 1, 4)],
        ),
        # A group that reads nothing of a topic asks for nothing there.
        ([position(committed=None, low=4)], []),
        # The slowest of two groups.
        (
            [position(group="a", committed=7), position(group="b", committed=5)],
            [("orders", 0, 5)],
        ),
    ],
)
def test_records_to_read(
    positions: list[retention.PartitionPosition], wanted: list[tuple[str, int, int]]
) -> None:
    assert retention.records_to_read(positions) == wanted
