"""Read the retention of the job's Kafka topics (``retention.ms``) with the AdminClient.

Why this exists: while a job is paused, change events the sink has not yet
written wait in Kafka, which deletes them after the topic's ``retention.ms``.
That bounds the pause as surely as the source database does (docs/design.md:
"the earliest bound wins").
:func:`syncjob_operator.decide.retention.kafka_bound` turns what is read here
into a deadline.

confluent-kafka's AdminClient is a blocking librdkafka client, so the call
runs in a worker thread with librdkafka's own ``request_timeout`` and an outer
``asyncio.timeout``. The client is a kept one
(:class:`~syncjob_operator.probes.kafka_clients.SharedAdmin`) when the caller
has one, so a probe does not pay a TLS and SASL handshake each time. The
client config (bootstrap servers, SASL/SSL settings from the job's Secret)
may hold a password; no message here includes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports these public names without __all__, which
# mypy --strict reads as private; they are its documented public API.
from confluent_kafka.admin import ConfigResource, ResourceType  # type: ignore[attr-defined]

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, kafka_clients

CONFIG_KEYS = ("retention.ms", "retention.bytes", "cleanup.policy")

# Ordered: the first one seen in this order names the cause.  A failed TLS
# handshake comes first: nothing else was tried on that connection.
_TLS_CODES = (KafkaError._SSL,)
_SASL_CODES = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
_AUTHORIZATION_CODES = (
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
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
