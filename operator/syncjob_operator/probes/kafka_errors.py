"""Kafka's errors as probe errors, and the client settings every Kafka probe shares.

Why this exists: librdkafka names why a request failed by an error code, and
often not in the failed request at all but in ``error_cb`` (a request to
brokers it cannot reach only says "timed out").  Which codes mean a refused
TLS handshake, refused SASL credentials, a denied request or no connection is
the same for every Kafka probe, and so are the settings that bound a client
and keep passwords out of messages; each probe module keeps only its own
reasons and words.  Shared by the Kafka probes, so not one of the independent
probes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from syncjob_operator.probes import errors

# Ordered: the first one seen in this order names the cause.  A failed TLS
# handshake comes first: nothing else was tried on that connection.
TLS_CODES = (KafkaError._SSL,)
SASL_CODES = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
AUTHORIZATION_CODES = (
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
)
UNREACHABLE_CODES = (KafkaError._RESOLVE, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
CAUSE_CODES = (*TLS_CODES, *SASL_CODES, *AUTHORIZATION_CODES, *UNREACHABLE_CODES)
TIMEOUT_CODES = (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)
# OpenSSL's words for an untrusted or mismatched certificate, whatever code carries them.
TLS_WORDS = ("certificate verify failed", "ssl handshake failed")

ErrorSink = Callable[[KafkaError], None]


class Cause(enum.Enum):
    """What a Kafka error says went wrong; each probe words it in its own reasons."""

    TOPIC_NOT_FOUND = enum.auto()
    TLS = enum.auto()
    SASL = enum.auto()
    DENIED = enum.auto()
    UNREACHABLE = enum.auto()
    TIMEOUT = enum.auto()


def cause_of(err: KafkaError | None, detail: str) -> Cause | None:
    """The cause ``err`` (with its redacted text ``detail``) names; None for any other error."""
    code = err.code() if err is not None else None
    if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
        return Cause.TOPIC_NOT_FOUND
    if code in TLS_CODES or any(w in detail.lower() for w in TLS_WORDS):
        return Cause.TLS
    if code in SASL_CODES:
        return Cause.SASL
    if code in AUTHORIZATION_CODES:
        return Cause.DENIED
    if code in UNREACHABLE_CODES:
        return Cause.UNREACHABLE
    if code in TIMEOUT_CODES:
        return Cause.TIMEOUT
    return None


def first_cause(seen: Mapping[int, KafkaError]) -> KafkaError | None:
    """Of the errors error_cb saw (by code), the one that names the cause, in CAUSE_CODES order."""
    return next((seen[c] for c in CAUSE_CODES if c in seen), None)


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError a KafkaException carries, if it carries one."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None


def redact(text: str, config: Mapping[str, str]) -> str:
    """``text`` without the config's passwords and secrets, on one line."""
    for key, value in config.items():
        if ("password" in key or "secret" in key) and len(value) >= 3:
            text = text.replace(value, "***")
    return " ".join(text.split())


def client_config(
    config: Mapping[str, str], timeout_s: float, on_error: ErrorSink
) -> dict[str, Any]:
    """``config`` with librdkafka bounded by ``timeout_s``, quiet, its errors to ``on_error``."""
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


class Seen:
    """The first error of each kind librdkafka reported to error_cb, to name a cause."""

    def __init__(self) -> None:
        self.errors: dict[int, KafkaError] = {}

    def __call__(self, err: KafkaError) -> None:
        self.errors.setdefault(err.code(), err)

    def cause(self) -> KafkaError | None:
        return first_cause(self.errors)


# --- the reasons of the retention and sink probes -----------------------------------------


def probe_error(
    err: KafkaError | None, detail: str, topic: str | None, bootstrap: str
) -> errors.ProbeError:
    """``err`` as the retention probes report it (TopicNotFound, KafkaTLSFailed, ...)."""
    where = f"Kafka at {bootstrap}"
    match cause_of(err, detail):
        case Cause.TOPIC_NOT_FOUND:
            return errors.TopicNotFoundError(f"{where} has no topic {topic!r}")
        case Cause.TLS:
            return errors.KafkaTLSFailedError(
                f"TLS handshake with {where} failed (is ssl.ca.pem the CA that signed the "
                f"brokers' certificates?): {detail}"
            )
        case Cause.SASL:
            return errors.KafkaAuthFailedError(
                f"{where} refused the SASL credentials (sasl.username / sasl.password of "
                f"spec.kafka.configSecretRef): {detail}"
            )
        case Cause.DENIED:
            return errors.AuthenticationFailedError(f"{where} refused the client: {detail}")
        case Cause.UNREACHABLE:
            return errors.SourceUnreachableError(f"cannot reach {where}: {detail}")
        case Cause.TIMEOUT:
            return errors.ProbeTimeoutError(f"{where}: {detail}")
        case None:
            return errors.ProbeError(f"{where}: {detail}")


def error_from(
    exc: KafkaException, topic: str | None, config: Mapping[str, str]
) -> errors.ProbeError:
    """:func:`probe_error` for an exception raised by a client made with ``config``."""
    err = kafka_error(exc)
    detail = redact(err.str() if err is not None else str(exc), config)
    return probe_error(err, detail, topic, config.get("bootstrap.servers", "?"))


def timed_out(bootstrap: str, timeout_s: float) -> errors.ProbeError:
    """No answer at all within the probe's time."""
    return errors.ProbeTimeoutError(f"Kafka at {bootstrap}: no answer within {timeout_s:g}s")


def failure(
    exc: BaseException, seen: Seen, topic: str | None, config: Mapping[str, str], timeout_s: float
) -> errors.ProbeError:
    """A failed request as a probe error, named by what error_cb saw where it saw something."""
    cause = seen.cause()
    if cause is not None:
        return error_from(KafkaException(cause), topic, config)
    if isinstance(exc, KafkaException):
        return error_from(exc, topic, config)
    return timed_out(config.get("bootstrap.servers", "?"), timeout_s)
