"""Where the job's sink consumer groups stand in its topics, read-only.

Why this exists: a paused sink's unread records are deleted when the topic's
retention passes them, so the pause is bounded by the oldest record the sinks
have not read, not by the pause itself (docs/design.md: "the earliest bound
wins").  :func:`probe_sink_positions` reads each sink consumer group's
committed offsets against every partition's log start and end, with the
timestamp of the oldest record the sinks have not read;
:func:`syncjob_operator.decide.retention.kafka_bound` turns them, with the
topics' settings from :mod:`syncjob_operator.probes.kafka_topics`, into a
deadline, or a loss.

confluent-kafka's clients are blocking librdkafka clients, so the reads run
in a worker thread with librdkafka's own timeouts and an outer
``asyncio.timeout``.  The probe's clients are made by :func:`_admin` or
:func:`_consumer`, nowhere else.  The probe's consumer only reads: it has a
group id of its own (librdkafka wants one), is assigned partitions rather
than subscribed, and never commits, so the sinks' groups are only ever read.
The client config (bootstrap servers, SASL/SSL settings from the job's
Secret) may hold a password; no message here includes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    TopicCollection,
    TopicPartition,
)

# confluent_kafka.admin re-exports these public names without __all__, which
# mypy --strict reads as private; they are its documented public API.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    OffsetSpec,
)

from syncjob_operator.decide import retention
from syncjob_operator.probes import kafka_errors

# The group of the consumer that reads records: never joined (partitions are
# assigned), never committed to.  librdkafka refuses a consumer without one.
PROBE_GROUP = "syncjob-operator-probe"


def _admin(
    config: Mapping[str, str], *, timeout_s: float, on_error: kafka_errors.ErrorSink
) -> AdminClient:
    """The one place an AdminClient is made (so a kept, shared one can stand in)."""
    return AdminClient(kafka_errors.client_config(config, timeout_s, on_error))


def _consumer(
    config: Mapping[str, str], *, group: str, timeout_s: float, on_error: kafka_errors.ErrorSink
) -> Consumer:
    """The one place a Consumer is made: it never subscribes, never commits.

    ``group`` is the group whose committed offsets it may be asked for (its
    ``committed()``), or :data:`PROBE_GROUP` for the one that reads records.
    Without a subscription it never joins the group, so the group's members
    and offsets are untouched.
    """
    return Consumer(
        {
            **kafka_errors.client_config(config, timeout_s, on_error),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # A record deleted between listing the offsets and fetching it is an
            # error for that partition, not a silent jump to another offset.
            "auto.offset.reset": "error",
            "enable.partition.eof": True,
            # Uncommitted transactions do not hold the read up; one record per
            # partition is wanted, so fetch little.
            "isolation.level": "read_uncommitted",
            "max.partition.fetch.bytes": 64 * 1024,
            "fetch.max.bytes": 1024 * 1024,
        }
    )


class _Budget:
    """The time left of one probe, shared by its requests (each gets what is left, at least 1s)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())


@dataclasses.dataclass
class _Reader:
    """An AdminClient's requests of one probe, their errors named as probe errors."""

    admin: AdminClient
    seen: kafka_errors.Seen
    config: Mapping[str, str]
    budget: _Budget

    def result(self, future: Any, topic: str | None) -> Any:
        try:
            return future.result(timeout=self.budget.left() + 1)
        except (KafkaException, TimeoutError) as exc:
            self.admin.poll(0)  # serve error_cb
            raise kafka_errors.failure(
                exc, self.seen, topic, self.config, self.budget.seconds
            ) from None

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        futures = self.admin.describe_topics(
            TopicCollection(topics), request_timeout=self.budget.left()
        )
        found: list[TopicPartition] = []
        for topic, future in sorted(futures.items()):
            description = self.result(future, topic)
            found += [TopicPartition(topic, p.id) for p in description.partitions]
        return found

    def watermarks(
        self, partitions: list[TopicPartition]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """(log start offset, high watermark) of each partition."""
        ends: list[dict[tuple[str, int], int]] = []
        # OffsetSpec's class methods carry no annotations in confluent-kafka 2.16.
        earliest = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        for spec in (earliest, latest):
            futures = self.admin.list_offsets(
                {tp: spec for tp in partitions}, request_timeout=self.budget.left()
            )
            ends.append(
                {
                    (tp.topic, tp.partition): int(self.result(f, tp.topic).offset)
                    for tp, f in futures.items()
                }
            )
        low, high = ends
        return {key: (low[key], high[key]) for key in low}


def _committed(
    config: Mapping[str, str], group: str, partitions: list[TopicPartition], budget: _Budget
) -> dict[tuple[str, int], int | None]:
    """The group's committed offset in each partition; None where it has committed nothing.

    Asked through a Consumer of that group (OffsetFetch), not the
    AdminClient's list_consumer_group_offsets: librdkafka 2.16 crashes the
    process (a NULL consumer group in rd_kafka_cgrp_op) when the coordinator
    answers that one with NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS,
    as a broker does while it loads __consumer_offsets (librdkafka issue
    5040); a consumer's own group handles those answers by asking again.
    """
    seen = kafka_errors.Seen()
    consumer = _consumer(config, group=group, timeout_s=budget.seconds, on_error=seen)
    try:
        answer = consumer.committed(
            [TopicPartition(p.topic, p.partition) for p in partitions], timeout=budget.left()
        )
    except KafkaException as exc:
        raise kafka_errors.failure(exc, seen, None, config, budget.seconds) from None
    finally:
        consumer.close()
    found: dict[tuple[str, int], int | None] = {}
    for tp in answer:
        if tp.error is not None:
            raise kafka_errors.error_from(KafkaException(tp.error), tp.topic, config)
        offset = int(tp.offset)
        found[(tp.topic, tp.partition)] = None if offset == OFFSET_INVALID else offset
    return found


def _timestamps(
    config: Mapping[str, str], wanted: Sequence[tuple[str, int, int]], budget: _Budget
) -> dict[tuple[str, int, int], datetime]:
    """The timestamp of the first record at or after each (topic, partition, offset).

    Bounded by what is left of the probe's time: a record not read by then (a
    partition whose leader is away, a record deleted meanwhile) is missing
    from the answer, and the bound says that position could not be read.
    """
    if not wanted:
        return {}
    consumer = _consumer(
        config, group=PROBE_GROUP, timeout_s=budget.seconds, on_error=kafka_errors.Seen()
    )
    pending = {(topic, partition): offset for topic, partition, offset in wanted}
    found: dict[tuple[str, int, int], datetime] = {}
    try:
        consumer.assign([TopicPartition(t, p, o) for t, p, o in wanted])
        while pending and (left := budget.deadline - time.monotonic()) > 0:
            for message in consumer.consume(num_messages=len(pending), timeout=min(left, 1.0)):
                key = (str(message.topic()), int(message.partition() or 0))
                if key not in pending:
                    continue  # a further record of a partition already read
                offset = pending.pop(key)
                consumer.pause([TopicPartition(*key)])
                if message.error() is not None:
                    continue  # the end of the partition, or the record is gone: not read
                kind, millis = message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE and millis >= 0:
                    found[(*key, offset)] = datetime.fromtimestamp(millis / 1000, UTC)
    finally:
        consumer.close()
    return found


def _positions(
    config: Mapping[str, str], topics: list[str], groups: list[str], timeout_s: float
) -> retention.SinkPositions:
    budget = _Budget(timeout_s)
    seen = kafka_errors.Seen()
    reader = _Reader(_admin(config, timeout_s=timeout_s, on_error=seen), seen, config, budget)
    partitions = reader.partitions(topics)
    marks = reader.watermarks(partitions)
    positions = [
        retention.PartitionPosition(
            topic=topic,
            partition=partition,
            group=group,
            committed=committed,
            low=marks[(topic, partition)][0],
            high=marks[(topic, partition)][1],
        )
        for group in groups
        for (topic, partition), committed in sorted(
            _committed(config, group, partitions, budget).items()
        )
    ]
    times = _timestamps(config, retention.records_to_read(positions), budget)
    return retention.SinkPositions(
        groups=tuple(groups),
        positions=tuple(
            dataclasses.replace(
                p, unread_time=times.get((p.topic, p.partition, retention.unread_offset(p)))
            )
            for p in positions
        ),
    )


async def probe_sink_positions(
    client_config: Mapping[str, str],
    *,
    topics: Iterable[str],
    groups: Iterable[str],
    timeout_s: float = 15.0,
) -> retention.SinkPositions:
    """Where each sink consumer group stands in every partition of ``topics``.

    Reads the partitions, their log start offsets and high watermarks, each
    group's committed offsets, and the timestamp of the oldest record the
    groups have not read in each partition (one Consumer, assigned, polled
    until each has answered or the time is up), all within ``timeout_s``.
    Raises the :mod:`~syncjob_operator.probes.errors` types as
    :func:`~syncjob_operator.probes.kafka_topics.probe_topic_retention` does (a
    group the client may not describe is AuthenticationFailed); the caller
    then counts from the pause.
    """
    topic_list = sorted(set(topics))
    group_list = sorted(set(groups))
    if not topic_list or not group_list:
        return retention.SinkPositions(groups=tuple(group_list))
    try:
        # Each request gets what is left (at least a second): a few more at most.
        async with asyncio.timeout(timeout_s + 10):
            return await asyncio.to_thread(
                _positions, client_config, topic_list, group_list, timeout_s
            )
    except TimeoutError:
        bootstrap = client_config.get("bootstrap.servers", "?")
        raise kafka_errors.timed_out(bootstrap, timeout_s) from None
    except KafkaException as exc:
        raise kafka_errors.error_from(exc, None, client_config) from None
