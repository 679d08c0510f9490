"""Read the retention of the job's Kafka topics (``retention.ms``) with the AdminClient.

Why this exists: while a job is paused, change events the sink has not yet
written wait in Kafka, which deletes them after the topic's ``retention.ms``.
That bounds the pause as surely as the source database does (docs/design.md:
"the earliest bound wins").
:func:`syncjob_operator.decide.retention.kafka_bound` turns what is read here
into a deadline.

confluent-kafka's AdminClient is a blocking librdkafka client, so the call
runs in a worker thread with librdkafka's own ``request_timeout`` and an outer
``asyncio.timeout``. The client config (bootstrap servers, SASL/SSL settings
from the job's Secret) may hold a password; no message here includes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports these public names without __all__, which
# mypy --strict reads as private; they are its documented public API.
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors

CONFIG_KEYS = ("retention.ms", "retention.bytes", "cleanup.policy")

# Ordered: the first one seen in this order names the cause.
_AUTH_CODES = (
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
)
_UNREACHABLE_CODES = (KafkaError._RESOLVE, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
_TIMEOUT_CODES = (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)


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


def _secret_values(config: Mapping[str, str]) -> list[str]:
    return [v for k, v in config.items() if ("password" in k or "secret" in k) and len(v) >= 3]


def _redact(text: str, config: Mapping[str, str]) -> str:
    for value in _secret_values(config):
        text = text.replace(value, "***")
    return " ".join(text.split())


def _error(exc: KafkaException, topic: str | None, config: Mapping[str, str]) -> errors.ProbeError:
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    code = err.code() if err is not None else None
    detail = _redact(err.str() if err is not None else str(exc), config)
    where = f"Kafka at {config.get('bootstrap.servers', '?')}"
    if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
        return errors.TopicNotFoundError(f"{where} has no topic {topic!r}")
    if code in _AUTH_CODES:
        return errors.AuthenticationFailedError(f"{where} refused the client: {detail}")
    if code in _UNREACHABLE_CODES:
        return errors.SourceUnreachableError(f"cannot reach {where}: {detail}")
    if code in _TIMEOUT_CODES:
        return errors.ProbeTimeoutError(f"{where}: {detail}")
    return errors.ProbeError(f"{where}: {detail}")


def _describe(
    config: Mapping[str, str], topics: list[str], timeout_s: float
) -> dict[str, retention.TopicRetention]:
    # A request to unreachable brokers only says "timed out"; librdkafka
    # reports the cause (refused, unresolvable, SASL failure) to error_cb.
    # Keep the first error of each kind to name the cause.
    seen: dict[int, KafkaError] = {}

    def on_error(err: KafkaError) -> None:
        seen.setdefault(err.code(), err)

    # error_cb is a callable, which confluent-kafka's annotation for the
    # config dict (scalars only) does not admit.
    admin_config: dict[str, Any] = {
        **config,
        # Bound librdkafka itself, not only our wait for it.
        "socket.timeout.ms": int(timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
        # librdkafka logs every failed connection on its own; the probe's
        # error says it once.
        "log_level": 0,
        "error_cb": on_error,
    }
    admin = AdminClient(admin_config)
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    futures = admin.describe_configs(resources, request_timeout=timeout_s)
    found: dict[str, retention.TopicRetention] = {}
    for resource, future in futures.items():
        topic = str(resource.name)
        try:
            entries = future.result(timeout=timeout_s + 1)
        except (KafkaException, TimeoutError) as exc:
            admin.poll(0)  # serve error_cb
            cause = next((seen[c] for c in (*_AUTH_CODES, *_UNREACHABLE_CODES) if c in seen), None)
            if cause is not None:
                raise _error(KafkaException(cause), topic, config) from None
            if isinstance(exc, KafkaException):
                raise _error(exc, topic, config) from None
            where = f"Kafka at {config.get('bootstrap.servers', '?')}"
            raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
        values = {key: entries[key].value for key in CONFIG_KEYS if key in entries}
        found[topic] = topic_retention_from_config(topic, values)
    return found


async def probe_topic_retention(
    client_config: Mapping[str, str],
    *,
    topics: Iterable[str],
    timeout_s: float = 15.0,
) -> dict[str, retention.TopicRetention]:
    """``retention.ms``, ``retention.bytes`` and ``cleanup.policy`` of each topic.

    ``client_config`` is a librdkafka config (``bootstrap.servers`` plus any
    ``security.protocol``/``sasl.*``/``ssl.*``). Raises
    :class:`errors.TopicNotFoundError` for a missing topic and the other
    :mod:`errors` types for reachability, authentication and time-outs.
    """
    topic_list = sorted(set(topics))
    if not topic_list:
        return {}
    where = f"Kafka at {client_config.get('bootstrap.servers', '?')}"
    try:
        async with asyncio.timeout(timeout_s + 5):
            return await asyncio.to_thread(_describe, client_config, topic_list, timeout_s)
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except KafkaException as exc:
        raise _error(exc, None, client_config) from None
