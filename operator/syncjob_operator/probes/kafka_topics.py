"""Read what Kafka keeps of the job's topics, and where the sinks stand in them.

Why this exists: while a job is paused, change events the sink has not yet
written wait in Kafka, which deletes them after the topic's ``retention.ms``.
That bounds the pause as surely as the source database does (docs/design.md:
"the earliest bound wins").  Two reads: each topic's retention settings
(:func:`probe_topic_retention`), and each sink consumer group's committed
offsets against every partition's log start and end, with the timestamp of
the oldest record the sinks have not read (:func:`probe_sink_positions`).
:func:`syncjob_operator.decide.retention.kafka_bound` turns them into a
deadline, or a loss.

confluent-kafka's clients are blocking librdkafka clients, so each read runs
in a worker thread with librdkafka's own timeouts and an outer
``asyncio.timeout``.  The topics' settings are read through a kept client
(:class:`~syncjob_operator.probes.kafka_clients.SharedAdmin`) when the caller
has one, so a probe does not pay a TLS and SASL handshake each time; the
probe's other clients are made by :func:`_admin` or :func:`_consumer`,
nowhere else.  The probe's consumer only reads: it has a
group id of its own (librdkafka wants one), is assigned partitions rather
than subscribed, and never commits, so the sinks' groups are only ever read.
The client config (bootstrap servers, SASL/SSL settings from the job's
Secret) may hold a password; no message here includes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)

# confluent_kafka.admin re-exports these public names without __all__, which
# mypy --strict reads as private; they are its documented public API.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    OffsetSpec,
    ResourceType,
)

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, kafka_clients

CONFIG_KEYS = ("retention.ms", "retention.bytes", "cleanup.policy")

# The group of the consumer that reads records: never joined (partitions are
# assigned), never committed to.  librdkafka refuses a consumer without one.
PROBE_GROUP = "syncjob-operator-probe"


# Ordered: the first one seen in this order names the cause.  A failed TLS
# handshake comes first: nothing else was tried on that connection.
_TLS_CODES = (KafkaError._SSL,)
_SASL_CODES = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
_AUTHORIZATION_CODES = (
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
)
_UNREACHABLE_CODES = (KafkaError._RESOLVE, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
_CAUSE_CODES = (*_TLS_CODES, *_SASL_CODES, *_AUTHORIZATION_CODES, *_UNREACHABLE_CODES)
_TIMEOUT_CODES = (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)
# OpenSSL's words for an untrusted or mismatched certificate, whatever code carries them.
_TLS_WORDS = ("certificate verify failed", "ssl handshake failed")


def topic_retention_from_config(
    topic: str, config: Mapping[str, str | None]
) -> retention.TopicRetention:
    """A topic's retention from its described config values (pure: tests feed it dicts)."""

    def number(key: str) -> int:
        value = config.get(key)
        return -1 if value is None or value == "" else int(value)

    return retention.TopicRetention(
        topic=topic,
        retention_ms=number("retention.ms"),
        retention_bytes=number("retention.bytes"),
        cleanup_policy=config.get("cleanup.policy") or "delete",
    )


def _error(
    err: KafkaError | None, detail: str, topic: str | None, bootstrap: str
) -> errors.ProbeError:
    code = err.code() if err is not None else None
    where = f"Kafka at {bootstrap}"
    if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
        return errors.TopicNotFoundError(f"{where} has no topic {topic!r}")
    if code in _TLS_CODES or any(w in detail.lower() for w in _TLS_WORDS):
        return errors.KafkaTLSFailedError(
            f"TLS handshake with {where} failed (is ssl.ca.pem the CA that signed the "
            f"brokers' certificates?): {detail}"
        )
    if code in _SASL_CODES:
        return errors.KafkaAuthFailedError(
            f"{where} refused the SASL credentials (sasl.username / sasl.password of "
            f"spec.kafka.configSecretRef): {detail}"
        )
    if code in _AUTHORIZATION_CODES:
        return errors.AuthenticationFailedError(f"{where} refused the client: {detail}")
    if code in _UNREACHABLE_CODES:
        return errors.SourceUnreachableError(f"cannot reach {where}: {detail}")
    if code in _TIMEOUT_CODES:
        return errors.ProbeTimeoutError(f"{where}: {detail}")
    return errors.ProbeError(f"{where}: {detail}")


def _kafka_error(exc: BaseException) -> KafkaError | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def _describe(
    shared: kafka_clients.SharedAdmin, topics: list[str], timeout_s: float
) -> dict[str, retention.TopicRetention]:
    admin = shared.client()  # our own reference: a close() meanwhile does not pull it away
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    futures = admin.describe_configs(resources, request_timeout=timeout_s)
    found: dict[str, retention.TopicRetention] = {}
    for resource, future in futures.items():
        topic = str(resource.name)
        try:
            entries = future.result(timeout=timeout_s + 1)
        except (KafkaException, TimeoutError) as exc:
            # A request to unreachable brokers only says "timed out"; librdkafka
            # reports the cause (refused, TLS, SASL) to error_cb.
            seen = shared.errors_since_success()
            cause = next((seen[c] for c in _CAUSE_CODES if c in seen), None)
            if cause is not None:
                raise _error(cause, shared.redact(cause.str()), topic, shared.bootstrap) from None
            if isinstance(exc, KafkaException):
                err = _kafka_error(exc)
                detail = shared.redact(err.str() if err is not None else str(exc))
                raise _error(err, detail, topic, shared.bootstrap) from None
            where = f"Kafka at {shared.bootstrap}"
            raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
        values = {key: entries[key].value for key in CONFIG_KEYS if key in entries}
        found[topic] = topic_retention_from_config(topic, values)
    shared.succeeded()
    return found


def _describe_once(
    config: Mapping[str, str], topics: list[str], timeout_s: float
) -> dict[str, retention.TopicRetention]:
    shared = kafka_clients.SharedAdmin(config, timeout_s=timeout_s)
    try:
        return _describe(shared, topics, timeout_s)
    finally:
        shared.close()


async def probe_topic_retention(
    client_config: Mapping[str, str],
    *,
    topics: Iterable[str],
    timeout_s: float = 15.0,
    admin: kafka_clients.SharedAdmin | None = None,
) -> dict[str, retention.TopicRetention]:
    """``retention.ms``, ``retention.bytes`` and ``cleanup.policy`` of each topic.

    ``client_config`` is a librdkafka config (``bootstrap.servers`` plus any
    ``security.protocol``/``sasl.*``/``ssl.*``). With ``admin`` (a kept client
    made from that config) the request goes through it; without, through a
    client made and closed for this one probe. Raises
    :class:`errors.TopicNotFoundError` for a missing topic,
    :class:`errors.KafkaAuthFailedError` for refused SASL credentials,
    :class:`errors.KafkaTLSFailedError` for an untrusted certificate, and the
    other :mod:`errors` types for reachability, authorization and time-outs.
    """
    topic_list = sorted(set(topics))
    if not topic_list:
        return {}
    try:
        async with asyncio.timeout(timeout_s + 5):
            if admin is not None:
                return await asyncio.to_thread(_describe, admin, topic_list, timeout_s)
            return await asyncio.to_thread(_describe_once, client_config, topic_list, timeout_s)
    except TimeoutError:
        where = f"Kafka at {client_config.get('bootstrap.servers', '?')}"
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except KafkaException as exc:
        raise config_error(exc, client_config) from None


def open_admin(client_config: Mapping[str, str]) -> kafka_clients.SharedAdmin:
    """A client to keep and pass to :func:`probe_topic_retention` as ``admin``.

    Raises :class:`errors.ProbeError` when librdkafka refuses the config.
    """
    try:
        return kafka_clients.SharedAdmin(client_config)
    except KafkaException as exc:
        raise config_error(exc, client_config) from None


def config_error(exc: KafkaException, client_config: Mapping[str, str]) -> errors.ProbeError:
    """librdkafka refused the config itself (an unknown key, a bad value)."""
    err = _kafka_error(exc)
    detail = _redact(err.str() if err is not None else str(exc), client_config)
    return _error(err, detail, None, client_config.get("bootstrap.servers", "?"))


def _redact(text: str, config: Mapping[str, str]) -> str:
    for key, value in config.items():
        if ("password" in key or "secret" in key) and len(value) >= 3:
            text = text.replace(value, "***")
    return " ".join(text.split())


def _error_from(
    exc: KafkaException, topic: str | None, config: Mapping[str, str]
) -> errors.ProbeError:
    """:func:`_error` for an exception raised by a client made with ``config``."""
    err = _kafka_error(exc)
    detail = _redact(err.str() if err is not None else str(exc), config)
    return _error(err, detail, topic, config.get("bootstrap.servers", "?"))


ErrorSink = Callable[[KafkaError], None]


def _client_config(
    config: Mapping[str, str], timeout_s: float, on_error: ErrorSink
) -> dict[str, Any]:
    # error_cb is a callable, which confluent-kafka's annotation for the
    # config dict (scalars only) does not admit.
    return {
        **config,
        # Bound librdkafka itself, not only our wait for it.
        "socket.timeout.ms": int(timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        # librdkafka logs every failed connection on its own; the probe's
        # error says it once.
        "log_level": 0,
        "error_cb": on_error,
    }


def _admin(config: Mapping[str, str], *, timeout_s: float, on_error: ErrorSink) -> AdminClient:
    """The one place an AdminClient is made (so a kept, shared one can stand in)."""
    return AdminClient(_client_config(config, timeout_s, on_error))


def _consumer(
    config: Mapping[str, str], *, group: str, timeout_s: float, on_error: ErrorSink
) -> Consumer:
    """The one place a Consumer is made: it never subscribes, never commits.

    ``group`` is the group whose committed offsets it may be asked for (its
    ``committed()``), or :data:`PROBE_GROUP` for the one that reads records.
    Without a subscription it never joins the group, so the group's members
    and offsets are untouched.
    """
    return Consumer(
        {
            **_client_config(config, timeout_s, on_error),
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


class _Seen:
    """The first error of each kind librdkafka reported to error_cb, to name a cause."""

    def __init__(self) -> None:
        self.errors: dict[int, KafkaError] = {}

    def __call__(self, err: KafkaError) -> None:
        self.errors.setdefault(err.code(), err)

    def cause(self) -> KafkaError | None:
        return next(
            (self.errors[c] for c in _CAUSE_CODES if c in self.errors),
            None,
        )


def _failure(
    exc: BaseException, seen: _Seen, topic: str | None, config: Mapping[str, str], timeout_s: float
) -> errors.ProbeError:
    """A failed request as a probe error, named by what error_cb saw where it saw something."""
    cause = seen.cause()
    if cause is not None:
        return _error_from(KafkaException(cause), topic, config)
    if isinstance(exc, KafkaException):
        return _error_from(exc, topic, config)
    where = f"Kafka at {config.get('bootstrap.servers', '?')}"
    return errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s")


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
    seen: _Seen
    config: Mapping[str, str]
    budget: _Budget

    def result(self, future: Any, topic: str | None) -> Any:
        try:
            return future.result(timeout=self.budget.left() + 1)
        except (KafkaException, TimeoutError) as exc:
            self.admin.poll(0)  # serve error_cb
            raise _failure(exc, self.seen, topic, self.config, self.budget.seconds) from None

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
    seen = _Seen()
    consumer = _consumer(config, group=group, timeout_s=budget.seconds, on_error=seen)
    try:
        answer = consumer.committed(
            [TopicPartition(p.topic, p.partition) for p in partitions], timeout=budget.left()
        )
    except KafkaException as exc:
        raise _failure(exc, seen, None, config, budget.seconds) from None
    finally:
        consumer.close()
    found: dict[tuple[str, int], int | None] = {}
    for tp in answer:
        if tp.error is not None:
            raise _error_from(KafkaException(tp.error), tp.topic, config)
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
    consumer = _consumer(config, group=PROBE_GROUP, timeout_s=budget.seconds, on_error=_Seen())
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
    seen = _Seen()
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
    Raises the :mod:`errors` types as :func:`probe_topic_retention` does (a
    group the client may not describe is AuthenticationFailed); the caller
    then counts from the pause.
    """
    topic_list = sorted(set(topics))
    group_list = sorted(set(groups))
    if not topic_list or not group_list:
        return retention.SinkPositions(groups=tuple(group_list))
    where = f"Kafka at {client_config.get('bootstrap.servers', '?')}"
    try:
        # Each request gets what is left (at least a second): a few more at most.
        async with asyncio.timeout(timeout_s + 10):
            return await asyncio.to_thread(
                _positions, client_config, topic_list, group_list, timeout_s
            )
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except KafkaException as exc:
        raise _error_from(exc, None, client_config) from None
