"""Read what Kafka keeps of the job's topics: their retention settings.

Why this exists: while a job is paused, change events the sink has not yet
written wait in Kafka, which deletes them after the topic's ``retention.ms``.
That bounds the pause as surely as the source database does (docs/design.md:
"the earliest bound wins").  This module reads each topic's retention
settings (:func:`probe_topic_retention`); where the sinks stand in those
topics is :mod:`syncjob_operator.probes.kafka_sinks`.
:func:`syncjob_operator.decide.retention.kafka_bound` turns both into a
deadline, or a loss.

confluent-kafka's clients are blocking librdkafka clients, so each read runs
in a worker thread with librdkafka's own timeouts and an outer
``asyncio.timeout``.  The topics' settings are read through a kept client
(:class:`~syncjob_operator.probes.kafka_clients.SharedAdmin`) when the caller
has one, so a probe does not pay a TLS and SASL handshake each time.
The client config (bootstrap servers, SASL/SSL settings from the job's
Secret) may hold a password; no message here includes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException

# confluent_kafka.admin re-exports these public names without __all__, which
# mypy --strict reads as private; they are its documented public API.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ConfigResource,
    ResourceType,
)

from syncjob_operator.decide import retention
from syncjob_operator.probes import kafka_clients, kafka_errors

CONFIG_KEYS = ("retention.ms", "retention.bytes", "cleanup.policy")


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
            cause = kafka_errors.first_cause(shared.errors_since_success())
            if cause is not None:
                raise kafka_errors.probe_error(
                    cause, shared.redact(cause.str()), topic, shared.bootstrap
                ) from None
            if isinstance(exc, KafkaException):
                err = kafka_errors.kafka_error(exc)
                detail = shared.redact(err.str() if err is not None else str(exc))
                raise kafka_errors.probe_error(err, detail, topic, shared.bootstrap) from None
            raise kafka_errors.timed_out(shared.bootstrap, timeout_s) from None
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
        bootstrap = client_config.get("bootstrap.servers", "?")
        raise kafka_errors.timed_out(bootstrap, timeout_s) from None
    except KafkaException as exc:
        raise kafka_errors.error_from(exc, None, client_config) from None


def open_admin(client_config: Mapping[str, str]) -> kafka_clients.SharedAdmin:
    """A client to keep and pass to :func:`probe_topic_retention` as ``admin``.

    Raises :class:`errors.ProbeError` when librdkafka refuses the config.
    """
    try:
        return kafka_clients.SharedAdmin(client_config)
    except KafkaException as exc:
        raise kafka_errors.error_from(exc, None, client_config) from None
