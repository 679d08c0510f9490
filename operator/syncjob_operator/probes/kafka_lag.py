"""How many records the job's sink connectors are behind: consumer-group lag, read-only.

Why this exists: after a resume the sink has to read everything the source
wrote while it was paused.  A Kafka Connect sink connector ``n`` consumes as
the group ``connect-n`` (unless its config overrides the group id); its lag
is the topics' high watermarks minus the group's committed offsets.  This is
what :mod:`syncjob_operator.decide.catchup` calls the sink lag.

confluent-kafka's clients block, so the reads run in a worker thread, bounded
by librdkafka's own timeouts and an outer ``asyncio.timeout``.  The consumer
never subscribes, so it never joins (or disturbs) the group, and never
commits.  Every Kafka client of this module is made by :func:`_consumer`, so
that it can become a shared per-cluster client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from syncjob_operator.probes import errors


def sink_group(connector: str) -> str:
    """Kafka Connect's consumer group of a sink connector (its default group id)."""
    return f"connect-{connector}"


def _consumer(config: Mapping[str, str], *, group: str, timeout_s: float) -> Consumer:
    consumer_config: dict[str, Any] = {
        **config,
        "group.id": group,
        "enable.auto.commit": False,
        "socket.timeout.ms": int(timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        "log_level": 0,
    }
    return Consumer(consumer_config)


def _lag(config: Mapping[str, str], group: str, topics: list[str], timeout_s: float) -> int:
    consumer = _consumer(config, group=group, timeout_s=timeout_s)
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
        partitions: list[TopicPartition] = []
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise errors.TopicNotFoundError(f"Kafka has no topic {topic!r}")
            partitions += [TopicPartition(topic, p) for p in sorted(found.partitions)]
        committed = consumer.committed(partitions, timeout=timeout_s)
        lag = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=timeout_s
            )
            # No commit yet: the whole retained partition is still to be read.
            position = tp.offset if tp.offset >= 0 else low
            lag += max(0, high - position)
        return lag
    finally:
        consumer.close()


async def probe_sink_lag(
    client_config: Mapping[str, str],
    *,
    connectors: Iterable[str],
    topics: Iterable[str],
    timeout_s: float = 10.0,
) -> int | None:
    """The summed lag of the sink connectors' groups on ``topics``; None with nothing to read."""
    topic_list = sorted(set(topics))
    groups = [sink_group(c) for c in connectors]
    if not topic_list or not groups:
        return None
    where = f"Kafka at {client_config.get('bootstrap.servers', '?')}"
    try:
        async with asyncio.timeout(timeout_s * 4 + 5):
            lags = [
                await asyncio.to_thread(_lag, client_config, g, topic_list, timeout_s)
                for g in groups
            ]
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except KafkaException as exc:
        raise errors.ProbeError(f"{where}: {exc.args[0] if exc.args else exc}") from None
    return sum(lags)
