"""Read Debezium's committed source offsets from Kafka Connect's offsets topic.

Why this exists: the stage (Snapshot or CDC) is in the source connectors'
committed offsets, and Kafka Connect's REST API serves those only from 3.5
and only to whoever talks to Connect: a job paused by scaling its workers or
through Strimzi has no such client.  The offsets topic is where Connect itself
keeps them (docs/design.md, section 3).  Its records: key the JSON
``["<connector>", {<source partition>}]``, value the offset as a JSON object,
or null (a tombstone: the offsets were reset).  The topic is compacted: the
last value per key wins.

One :class:`OffsetsTopicReader` per cluster, topic and credentials keeps a
consumer and the last record per key; a refresh reads every partition from
where the last one ended to its end (librdkafka's partition EOF, which a fresh
assignment always reports, also for an empty partition, and which comes at
the last stable offset where exactly-once Connect writes in transactions), all
within a time bound.  So a refresh costs what was written since the last one,
not the whole topic.  Nothing is committed and no group is joined (the
partitions are assigned, not subscribed); librdkafka wants a ``group.id``
all the same.

confluent-kafka's consumer blocks, so a refresh runs in a worker thread,
bounded by librdkafka's own timeouts and an outer ``asyncio.timeout``.  The
client config may hold a password: no message here includes it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from syncjob_operator.probes import errors, kafka_errors

# Offsets by connector name, one per source partition (sorted by partition).
Offsets = Mapping[str, tuple[Mapping[str, Any], ...]]

GROUP_ID = "syncjob-operator-stage"
# Reasons that need someone to act (a setting, a credential); the others are retried.
LASTING = frozenset(
    {"OffsetsTopicNotFound", "OffsetsTopicNotAuthorized", "KafkaAuthFailed", "KafkaTLSFailed"}
)

# Causes that end a read at once: waiting longer does not change them.
_FATAL = (kafka_errors.Cause.SASL, kafka_errors.Cause.DENIED, kafka_errors.Cause.TLS)


# --- the records, folded (pure) ---------------------------------------------------------


def parse_key(key: bytes | None) -> tuple[str, str] | None:
    """(connector, source partition as canonical JSON) of a record key; None if not Connect's."""
    if key is None:
        return None
    try:
        data = json.loads(key)
    except ValueError:  # UnicodeDecodeError is one
        return None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str)):
        return None
    return data[0], json.dumps(data[1], sort_keys=True, separators=(",", ":"))


def parse_value(value: bytes) -> Mapping[str, Any] | None:
    """A record's offset; None where it is not a JSON object (such a record is skipped)."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class OffsetsLog:
    """The offsets topic folded as a compacted topic reads: the last value per key.

    Records are applied in each partition's order; ``next`` is where each
    partition's next read starts.  A partition that starts over (records
    from before where it was read to, or an end before it: the topic was
    deleted and made again) is forgotten and read again from its beginning.
    """

    def __init__(self) -> None:
        self.next: dict[int, int] = {}
        self.skipped = 0  # records that are not Connect's (key or value unreadable)
        self._entries: dict[int, dict[tuple[str, str], Mapping[str, Any]]] = {}
        self._snapshot: Offsets | None = None

    def apply(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if offset < self.next.get(partition, 0):
            self._entries.pop(partition, None)
        self.next[partition] = offset + 1
        self._snapshot = None
        parsed = parse_key(key)
        if parsed is None:
            self.skipped += 1
            return
        entries = self._entries.setdefault(partition, {})
        if value is None:
            entries.pop(parsed, None)
            return
        offset_value = parse_value(value)
        if offset_value is None:
            self.skipped += 1
            return
        entries[parsed] = offset_value

    def end(self, partition: int, offset: int) -> bool:
        """The partition ends at ``offset``; True when it must be read again from its beginning."""
        if offset >= self.next.get(partition, 0):
            self.next[partition] = offset
            return False
        self._entries.pop(partition, None)
        self.next.pop(partition, None)
        self._snapshot = None
        return True

    def snapshot(self) -> Offsets:
        """Every connector's offsets, one per source partition."""
        if self._snapshot is None:
            by_connector: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
            for entries in self._entries.values():
                for (connector, partition), value in entries.items():
                    by_connector.setdefault(connector, []).append((partition, value))
            self._snapshot = {
                c: tuple(v for _, v in sorted(found, key=lambda e: e[0]))
                for c, found in sorted(by_connector.items())
            }
        return self._snapshot


# --- reading Kafka ----------------------------------------------------------------------


def _consumer(
    config: Mapping[str, str], on_error: kafka_errors.ErrorSink, timeout_s: float
) -> Consumer:
    """The one place a Kafka client is made here (a shared one may stand in later)."""
    return Consumer(
        {
            **kafka_errors.client_config(config, timeout_s, on_error),
            "group.id": GROUP_ID,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # A position past the end (the topic made again, shorter): from the beginning.
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,
        }
    )


def read_error(
    err: KafkaError, *, where: str, topic: str, config: Mapping[str, str]
) -> errors.ProbeError | None:
    """``err`` in this reader's reasons; None where it names no cause (a time-out, say)."""
    detail = kafka_errors.redact(err.str(), config)
    match kafka_errors.cause_of(err, detail):
        case kafka_errors.Cause.TOPIC_NOT_FOUND:
            return errors.ProbeError(
                f"{where} has no topic {topic!r}: set spec.kafka.offsetsTopic to "
                "Kafka Connect's offset.storage.topic",
                reason="OffsetsTopicNotFound",
            )
        case kafka_errors.Cause.SASL:
            return errors.ProbeError(
                f"{where} refused the credentials: {detail}", reason="KafkaAuthFailed"
            )
        case kafka_errors.Cause.TLS:
            return errors.ProbeError(f"TLS with {where} failed: {detail}", reason="KafkaTLSFailed")
        case kafka_errors.Cause.DENIED:
            return errors.ProbeError(
                f"{where} does not let this client read topic {topic!r}: {detail}",
                reason="OffsetsTopicNotAuthorized",
            )
        case kafka_errors.Cause.UNREACHABLE:
            return errors.ProbeError(f"cannot reach {where}: {detail}", reason="KafkaUnreachable")
        case kafka_errors.Cause.TIMEOUT | None:
            return None


class OffsetsTopicReader:
    """One offsets topic of one cluster, read with one set of credentials."""

    def __init__(self, config: Mapping[str, str], topic: str) -> None:
        self.config = dict(config)
        self.topic = topic
        self.log = OffsetsLog()
        self.records = 0  # records read, all refreshes together
        self._consumer: Consumer | None = None
        self._seen: dict[int, KafkaError] = {}
        self._lock = threading.Lock()  # one thread at a time uses the consumer

    @property
    def where(self) -> str:
        return f"Kafka at {self.config.get('bootstrap.servers', '?')}"

    async def refresh(self, *, timeout_s: float = 10.0) -> Offsets:
        """Read what was written since the last refresh; every connector's offsets.

        Raises :class:`errors.ProbeError` with reason ``OffsetsTopicNotFound``,
        ``OffsetsTopicNotAuthorized``, ``KafkaAuthFailed``, ``KafkaTLSFailed``,
        ``KafkaUnreachable`` or ``OffsetsTopicTimeout``.
        """
        try:
            async with asyncio.timeout(timeout_s + 5):
                return await asyncio.to_thread(self._refresh, timeout_s)
        except TimeoutError:
            raise self._timeout(timeout_s) from None

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

    def _on_error(self, err: KafkaError) -> None:
        self._seen.setdefault(err.code(), err)

    def _refresh(self, timeout_s: float) -> Offsets:
        with self._lock:
            self._seen.clear()
            try:
                return self._read(timeout_s)
            except KafkaException as exc:
                raise self._cause(kafka_errors.kafka_error(exc), timeout_s) from None

    def _read(self, timeout_s: float) -> Offsets:
        deadline = time.monotonic() + timeout_s
        if self._consumer is None:
            self._consumer = _consumer(self.config, self._on_error, timeout_s)
        consumer = self._consumer
        metadata = consumer.list_topics(self.topic, timeout=timeout_s)
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None:
            raise self._cause(found.error if found is not None else None, timeout_s)
        partitions = sorted(found.partitions)
        again = True
        while again:
            again = False
            consumer.assign(
                [
                    TopicPartition(self.topic, p, self.log.next.get(p, OFFSET_BEGINNING))
                    for p in partitions
                ]
            )
            pending = set(partitions)
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    consumer.unassign()
                    raise self._cause(None, timeout_s)
                for message in consumer.consume(1000, timeout=min(left, 0.5)):
                    err = message.error()
                    partition, offset = message.partition(), message.offset()
                    if err is None and partition is not None and offset is not None:
                        self.log.apply(partition, offset, message.key(), message.value())
                        self.records += 1
                    elif err is not None and err.code() == KafkaError._PARTITION_EOF:
                        if partition is not None and offset is not None:
                            again |= self.log.end(partition, offset)
                            pending.discard(partition)
                    elif err is not None:
                        self._on_error(err)
                        detail = kafka_errors.redact(err.str(), self.config)
                        if kafka_errors.cause_of(err, detail) in _FATAL:
                            consumer.unassign()
                            raise self._cause(err, timeout_s)
        # Unassigned, the consumer fetches nothing until the next refresh.
        consumer.unassign()
        return self.log.snapshot()

    def _cause(self, err: KafkaError | None, timeout_s: float) -> errors.ProbeError:
        """The error a failed read is reported as: the first cause librdkafka named."""
        causes = [err] if err is not None else []
        causes += [self._seen[c] for c in kafka_errors.CAUSE_CODES if c in self._seen]
        for cause in causes:
            found = read_error(cause, where=self.where, topic=self.topic, config=self.config)
            if found is not None:
                return found
        return self._timeout(timeout_s)

    def _timeout(self, timeout_s: float) -> errors.ProbeError:
        return errors.ProbeError(
            f"{self.where}: topic {self.topic!r} was not read to its end within {timeout_s:g}s",
            reason="OffsetsTopicTimeout",
        )
