"""Why a probe failed, as a condition reason.

Why this exists: a failed probe must never turn into a made-up deadline; the
operator falls back to spec.source.retention (or no deadline) and sets a
condition whose ``reason`` names the cause. Each probe maps its driver's
errors onto these few types, so the handlers need no driver knowledge.
Messages name the host and the cause, never a password.
"""

from __future__ import annotations


class ProbeError(Exception):
    """A probe could not read what it needed. ``reason`` is CamelCase for a condition."""

    reason: str = "ProbeFailed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return self.message


class SourceUnreachableError(ProbeError):
    """No connection: refused, unknown host, TLS handshake failed."""

    reason = "SourceUnreachable"


class AuthenticationFailedError(ProbeError):
    """The server refused the credentials (or has no access rule for this client)."""

    reason = "AuthenticationFailed"


class KafkaAuthFailedError(AuthenticationFailedError):
    """Kafka refused the SASL credentials of spec.kafka.configSecretRef (wrong key or secret)."""

    reason = "KafkaAuthFailed"


class KafkaTLSFailedError(SourceUnreachableError):
    """The TLS handshake with Kafka failed: its certificate is not trusted (ssl.ca.pem)."""

    reason = "KafkaTLSFailed"


class PermissionDeniedError(ProbeError):
    """Connected, but the account may not read what the probe needs."""

    reason = "PermissionDenied"


class DatabaseNotFoundError(ProbeError):
    """The database named in the connection Secret does not exist."""

    reason = "DatabaseNotFound"


class SlotNotFoundError(ProbeError):
    """The PostgreSQL replication slot does not exist (never created, or dropped)."""

    reason = "SlotNotFound"


class BinlogDisabledError(ProbeError):
    """The MySQL/MariaDB server has no binary log: CDC cannot work at all."""

    reason = "BinlogDisabled"


class TopicNotFoundError(ProbeError):
    """A Kafka topic named in the spec does not exist."""

    reason = "TopicNotFound"


class ProbeTimeoutError(ProbeError):
    """The probe did not finish within its time bound."""

    reason = "ProbeTimeout"
