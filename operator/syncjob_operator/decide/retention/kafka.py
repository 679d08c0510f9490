"""Kafka: how long the job's topics keep the records the sink has not read.

While a job is paused, change events the sink has not yet written wait in
Kafka, which deletes them after the topic's ``retention.ms``: that bounds the
pause as surely as the source database does.  The clock starts at the oldest
record the sink has not consumed (the sink's consumer group's committed offset
in each partition), not at the pause, since a sink that lagged before the
pause has older records waiting.  Kafka itself says when that record is gone:
the partition's log start offset passes the committed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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

    @property
    def time_limited(self) -> bool:
        """Whether Kafka deletes this topic's records by age (compaction alone never does)."""
        return self.retention_ms >= 0 and "delete" in self.cleanup_policy.split(",")


@dataclass(frozen=True)
class PartitionPosition:
    """Where one sink consumer group stands in one partition, and what the partition holds.

    ``committed`` None: the group has committed nothing in this partition.
    ``low`` is the log start offset (the oldest record Kafka still has),
    ``high`` the high watermark (the next offset to be written).
    ``unread_time`` is the timestamp of the first record at or after
    :func:`unread_offset`, when there is one and it could be read.
    """

    topic: str
    partition: int
    group: str
    committed: int | None
    low: int
    high: int
    unread_time: datetime | None = None


@dataclass(frozen=True)
class SinkPositions:
    """What was read of the sinks' consumer groups, or why nothing could be.

    ``groups`` are the groups asked about.  ``unknown`` (non-empty) says why
    the positions are not known: no group named, or the groups could not be
    read.  The bound then counts from the pause and says so.
    """

    positions: tuple[PartitionPosition, ...] = ()
    groups: tuple[str, ...] = ()
    unknown: str = ""


def unread_offset(position: PartitionPosition) -> int:
    """The offset of the oldest record this group has not consumed in this partition.

    Without a committed offset, a Kafka Connect sink starts at the earliest
    record (Connect's default ``auto.offset.reset`` for sinks), so everything
    the partition holds is unread.
    """
    return position.low if position.committed is None else position.committed


def reading_groups(positions: Iterable[PartitionPosition]) -> dict[str, set[str]]:
    """Per topic, the groups that committed an offset in any of its partitions.

    A group that committed nothing in a topic does not read it (a job with two
    sinks, each for its own topics), so its empty partitions there are no
    unread records.
    """
    readers: dict[str, set[str]] = {}
    for p in positions:
        if p.committed is not None:
            readers.setdefault(p.topic, set()).add(p.group)
    return readers


def slowest(positions: Iterable[PartitionPosition]) -> dict[tuple[str, int], PartitionPosition]:
    """Per (topic, partition), the reading group that is furthest behind.

    Kafka deletes a partition's oldest segments first, so a group further on
    in the same partition can never lose records before the slowest one: the
    slowest alone binds.  Groups that do not read a topic (see
    :func:`reading_groups`) are left out.
    """
    position_list = list(positions)
    readers = reading_groups(position_list)
    found: dict[tuple[str, int], PartitionPosition] = {}
    for p in position_list:
        if p.group not in readers.get(p.topic, set()):
            continue
        key = (p.topic, p.partition)
        if key not in found or unread_offset(p) < unread_offset(found[key]):
            found[key] = p
    return found


def records_to_read(positions: Iterable[PartitionPosition]) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every record whose timestamp the bound needs.

    One per partition: the oldest record the slowest reading group has not
    consumed, where that record is there to read (a committed offset below
    the log start is a loss, told by the offsets alone; at the high watermark
    there is nothing unread).
    """
    return sorted(
        (topic, partition, unread_offset(p))
        for (topic, partition), p in slowest(positions).items()
        if p.low <= unread_offset(p) < p.high
    )


def _lost(positions: Sequence[PartitionPosition]) -> RetentionBound | None:
    """Records deleted unread: a committed offset below the partition's log start offset."""
    gone: dict[tuple[str, int], tuple[int, PartitionPosition]] = {}
    for p in positions:
        if p.committed is not None and p.committed < p.low:
            key = (p.topic, p.partition)
            count = p.low - p.committed
            if key not in gone or count > gone[key][0]:
                gone[key] = (count, p)
    if not gone:
        return None
    # The partition that lost the most names the loss; the figures count them all.
    count, first = max(gone.values(), key=lambda g: (g[0], g[1].topic, -g[1].partition))
    others = len(gone) - 1
    more = f" (and {others} more partition{'s' if others > 1 else ''})" if others else ""
    records = f"{count} record{'s' if count > 1 else ''}"
    return RetentionBound(
        basis=KAFKA_RETENTION,
        deadline=None,
        lost=True,
        reason="TopicRecordsDeleted",
        message=(
            f"Kafka deleted {records} of topic {first.topic} partition {first.partition} "
            f"that sink group {first.group} had not read (committed offset {first.committed}, "
            f"log start offset {first.low}){more}: those events are gone and the job needs a "
            "new snapshot."
        ),
        figures={
            "topic": first.topic,
            "partition": first.partition,
            "consumerGroup": first.group,
            "recordsLost": sum(c for c, _ in gone.values()),
        },
        checked=True,
    )


@dataclass(frozen=True)
class _Candidate:
    deadline: datetime
    topic: TopicRetention
    message: str
    figures: dict[str, Figure]
    checked: bool


def _topic_candidates(
    topic: TopicRetention,
    behind: Sequence[PartitionPosition],
    *,
    paused_at: datetime,
    sinks: SinkPositions,
) -> list[_Candidate]:
    """The deadline of each partition of ``topic``, from its slowest group (``behind``)."""
    keep = timedelta(milliseconds=topic.retention_ms)
    latest = paused_at + keep  # records written after the pause (the source may still write)
    kept = units.format_duration(keep)
    base: dict[str, Figure] = {"topic": topic.topic, "retentionMs": topic.retention_ms}
    if topic.retention_bytes >= 0:
        base["retentionBytes"] = topic.retention_bytes
    if sinks.unknown or not behind:
        why = sinks.unknown or (
            f"sink group {', '.join(sinks.groups)} has committed no offset on topic "
            f"{topic.topic}; a sink that sets consumer.override.group.id needs its group in "
            "spec.kafka.sinkConsumerGroups"
        )
        return [
            _Candidate(
                latest,
                topic,
                f"Topic {topic.topic} keeps records for {kept}, counted from the pause since "
                f"where the sink stands is not known ({why}); this may be late.",
                base,
                checked=False,
            )
        ]
    found: list[_Candidate] = []
    for p in behind:
        offset = unread_offset(p)
        where = f"topic {topic.topic} partition {p.partition}"
        figures = {**base, "partition": p.partition, "consumerGroup": p.group}
        if offset >= p.high:
            message = (
                f"Sink group {p.group} has read all of {where}; records written after the "
                f"pause are kept for {kept}."
            )
            found.append(_Candidate(latest, topic, message, figures, checked=True))
        elif p.unread_time is None:
            # Its time is unknown, but the offsets still tell whether it is gone.
            message = (
                f"The record at offset {offset} of {where}, the oldest sink group {p.group} "
                f"has not read, could not be read, so {kept} counts from the pause; this may "
                "be late."
            )
            found.append(_Candidate(latest, topic, message, figures, checked=True))
        else:
            message = (
                f"The oldest record sink group {p.group} has not read in {where} (offset "
                f"{offset} of {p.high}, written {units.rfc3339(p.unread_time)}) is kept for "
                f"{kept} after it."
            )
            figures["unreadOffset"] = offset
            deadline = min(p.unread_time + keep, latest)
            found.append(_Candidate(deadline, topic, message, figures, checked=True))
    return found


def kafka_bound(
    topics: Iterable[TopicRetention],
    *,
    paused_at: datetime,
    sinks: SinkPositions | None = None,
) -> RetentionBound | None:
    """deadline = min over partitions of (oldest unread record's time + the topic's retention.ms).

    Kafka deletes a segment when its newest record is older than
    ``retention.ms``, so the oldest record the sink has not read lives at
    least until its own timestamp + retention.ms (early, as a guess should
    be).  No partition's deadline is later than pausedAt + retention.ms:
    records written after the pause may still come.  A partition the sink has
    read to the end contributes just that.  Where the sink's position is not
    known (``sinks`` None or ``unknown``, a topic no group has committed in)
    or the unread record could not be read, the deadline counts from the
    pause and the message says so.  The bound is ``checked`` when the offsets
    of every topic's reading groups were read (whether the record's time was
    or not): then only a committed offset below the log start offset
    (records deleted unread) is a loss.

    Compacted-only topics and ``-1`` set no time limit.  ``retention.bytes``
    can delete sooner; it is reported, not turned into a date.  None when
    there are no topics.
    """
    topic_list = list(topics)
    if not topic_list:
        return None
    sinks = sinks or SinkPositions(unknown="the sink's consumer group was not read")
    positions = [p for p in sinks.positions if p.topic in {t.topic for t in topic_list}]
    lost = _lost(positions)
    if lost is not None:
        return lost
    sized = sorted(t.topic for t in topic_list if t.retention_bytes >= 0)
    size_note = (
        f" Size limits (retention.bytes) on {', '.join(sized)} can delete sooner." if sized else ""
    )
    timed = [t for t in topic_list if t.time_limited]
    if not timed:
        return RetentionBound(
            basis=KAFKA_RETENTION,
            deadline=None,
            lost=False,
            reason="TopicRetentionUnlimited",
            message="The job's topics keep records without a time limit." + size_note,
            figures={"topics": ",".join(sorted(t.topic for t in topic_list))},
        )
    behind = sorted(slowest(positions).values(), key=lambda p: (p.topic, p.partition))
    candidates = [
        c
        for t in timed
        for c in _topic_candidates(
            t,
            [p for p in behind if p.topic == t.topic],
            paused_at=paused_at,
            sinks=sinks,
        )
    ]
    # Earliest first; on a tie the shortest retention, then the topic name (stable messages).
    binding = min(candidates, key=lambda c: (c.deadline, c.topic.retention_ms, c.topic.topic))
    return RetentionBound(
        basis=KAFKA_RETENTION,
        deadline=binding.deadline,
        lost=False,
        reason="TopicRetention",
        message=binding.message + size_note,
        figures=binding.figures,
        checked=all(c.checked for c in candidates),
    )
