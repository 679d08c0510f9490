"""Kafka: how long the job's topics keep the records the sink has not read.

While a job is paused, change events the sink has not yet written wait in
Kafka, which deletes them after the topic's ``retention.ms``: that bounds the
pause as surely as the source database does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.decide.retention.combine import Figure, RetentionBound

KAFKA_RETENTION = "kafka:retention.ms"


@dataclass(frozen=True)
class TopicRetention:
    """A topic's time and size retention, from describe_configs."""

    topic: str
    retention_ms: int  # -1: unlimited
    retention_bytes: int = -1  # per partition; -1: unlimited
    cleanup_policy: str = "delete"


def kafka_bound(
    topics: Iterable[TopicRetention],
    *,
    paused_at: datetime,
    position_time: datetime | None = None,
) -> RetentionBound | None:
    """deadline = pausedAt + the smallest ``retention.ms`` among the job's topics.

    Kafka deletes a segment when its newest record is older than retention.ms,
    so records the sink has not read when it paused live at least until then
    (``position_time``, the oldest unread record's time, anchors earlier when
    the sink lagged). Compacted-only topics and ``-1`` set no time limit.
    ``retention.bytes`` can delete sooner; it is reported, not turned into a
    date. None when there are no topics.
    """
    topic_list = list(topics)
    if not topic_list:
        return None
    anchor = min(paused_at, position_time) if position_time else paused_at
    sized = sorted(t.topic for t in topic_list if t.retention_bytes >= 0)
    size_note = (
        f" Size limits (retention.bytes) on {', '.join(sized)} can delete sooner." if sized else ""
    )
    timed = [
        t for t in topic_list if t.retention_ms >= 0 and "delete" in t.cleanup_policy.split(",")
    ]
    if not timed:
        return RetentionBound(
            basis=KAFKA_RETENTION,
            deadline=None,
            lost=False,
            reason="TopicRetentionUnlimited",
            message="The job's topics keep records without a time limit." + size_note,
            figures={"topics": ",".join(sorted(t.topic for t in topic_list))},
        )
    shortest = min(timed, key=lambda t: (t.retention_ms, t.topic))
    keep = timedelta(milliseconds=shortest.retention_ms)
    figures: dict[str, Figure] = {"topic": shortest.topic, "retentionMs": shortest.retention_ms}
    if shortest.retention_bytes >= 0:
        figures["retentionBytes"] = shortest.retention_bytes
    return RetentionBound(
        basis=KAFKA_RETENTION,
        deadline=anchor + keep,
        lost=False,
        reason="TopicRetention",
        message=f"Topic {shortest.topic} keeps records for {units.format_duration(keep)}."
        + size_note,
        figures=figures,
    )
