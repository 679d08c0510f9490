"""Which reason a failed TLS handshake or a refused credential gets, Kafka and Connect alike.

librdkafka's error codes and OpenSSL's messages, and the Connect client's
failed handshakes with a local TLS server, are turned into condition reasons a user can act on:
KafkaAuthFailed / KafkaTLSFailed for spec.kafka.configSecretRef,
ConnectTLSFailed for spec.connect.authSecretRef's ca.crt. (The real broker
and worker say the same in tests/e2e/test_secured_pipeline.py.)
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from cryptography.hazmat.primitives import serialization

from syncjob_operator.backends import connect
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.probes import errors, kafka_clients, kafka_errors, offsets_topic
from tests.env import tls

SSL_TEXT = (
    "sasl_ssl://k:9092/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
    "certificate verify failed: broker certificate could not be verified"
)
SASL_TEXT = "sasl_ssl://k:9092/bootstrap: SASL authentication error: Invalid username or password"


@pytest.mark.parametrize(
    ("code", "text", "reason", "kind"),
    [
        (KafkaError._SSL, SSL_TEXT, "KafkaTLSFailed", errors.KafkaTLSFailedError),
        # The words alone say it, whatever code carries them.
        (KafkaError._TRANSPORT, SSL_TEXT, "KafkaTLSFailed", errors.KafkaTLSFailedError),
        (KafkaError._AUTHENTICATION, SASL_TEXT, "KafkaAuthFailed", errors.KafkaAuthFailedError),
        (
            KafkaError.SASL_AUTHENTICATION_FAILED,
            SASL_TEXT,
            "KafkaAuthFailed",
            errors.KafkaAuthFailedError,
        ),
        (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            "not authorized",
            "AuthenticationFailed",
            errors.AuthenticationFailedError,
        ),
        (KafkaError._TRANSPORT, "refused", "SourceUnreachable", errors.SourceUnreachableError),
        (KafkaError._TIMED_OUT, "timed out", "ProbeTimeout", errors.ProbeTimeoutError),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, "no", "TopicNotFound", errors.TopicNotFoundError),
    ],
)
def test_kafka_errors_name_their_cause(
    code: int, text: str, reason: str, kind: type[errors.ProbeError]
) -> None:
    error = kafka_errors.probe_error(KafkaError(code, text), text, "orders", "k:9092")
    assert isinstance(error, kind) and error.reason == reason
    assert "k:9092" in error.message


@pytest.mark.parametrize(
    ("code", "text", "reason"),
    [
        (KafkaError._SSL, SSL_TEXT, "KafkaTLSFailed"),
        # Read through the same mapping as the retention probes: the words say TLS here too.
        (KafkaError._TRANSPORT, SSL_TEXT, "KafkaTLSFailed"),
        (KafkaError._AUTHENTICATION, SASL_TEXT, "KafkaAuthFailed"),
        (KafkaError.SASL_AUTHENTICATION_FAILED, SASL_TEXT, "KafkaAuthFailed"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorized", "OffsetsTopicNotAuthorized"),
        (KafkaError.GROUP_AUTHORIZATION_FAILED, "not authorized", "OffsetsTopicNotAuthorized"),
        (KafkaError._TRANSPORT, "refused", "KafkaUnreachable"),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, "no", "OffsetsTopicNotFound"),
        (KafkaError._TIMED_OUT, "timed out", None),
    ],
)
def test_the_offsets_topic_reader_names_the_same_causes_in_its_own_reasons(
    code: int, text: str, reason: str | None
) -> None:
    config = {"bootstrap.servers": "k:9092", "sasl.password": "hunter2-pw"}
    error = offsets_topic.read_error(
        KafkaError(code, f"{text} (hunter2-pw)"),
        where="Kafka at k:9092",
        topic="connect-offsets",
        config=config,
    )
    assert (error.reason if error is not None else None) == reason
    if error is not None:
        assert "k:9092" in error.message and "hunter2-pw" not in error.message


def test_the_specific_kafka_reasons_are_still_the_general_kinds() -> None:
    # Code that catches the general kinds (fallbacks, metrics) keeps working.
    assert issubclass(errors.KafkaAuthFailedError, errors.AuthenticationFailedError)
    assert issubclass(errors.KafkaTLSFailedError, errors.SourceUnreachableError)


class NoBroker:
    """What SharedAdmin asks of an AdminClient before any request: poll."""

    def __init__(self, config: dict[str, object]) -> None:
        self.config = config

    def poll(self, timeout: float) -> int:
        return 0


def test_a_kept_client_keeps_the_errors_since_its_last_success() -> None:
    admin = kafka_clients.SharedAdmin(
        {"bootstrap.servers": "k:9092", "sasl.password": "hunter2-pw"}, factory=NoBroker
    )
    record = admin.client().config["error_cb"]
    record(KafkaError(KafkaError._AUTHENTICATION, SASL_TEXT))
    record(KafkaError(KafkaError._AUTHENTICATION, SASL_TEXT + " again"))
    seen = admin.errors_since_success()
    assert list(seen) == [KafkaError._AUTHENTICATION]
    assert seen[KafkaError._AUTHENTICATION].str().endswith("again")  # the latest per code
    admin.succeeded()
    assert admin.errors_since_success() == {}
    assert "hunter2-pw" not in repr(admin)
    assert admin.redact("password hunter2-pw here") == "password *** here"
    admin.close()
    assert admin.closed
    with pytest.raises(RuntimeError, match="closed"):
        admin.client()


async def _tls_listener(directory: Path, ca: tls.CertificateAuthority) -> asyncio.Server:
    """A TLS server presenting a certificate of ``ca``; it answers nothing."""
    served = ca.issue("connect")
    (directory / "cert.pem").write_text(served.certificate_pem)
    (directory / "key.pem").write_bytes(
        served.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0, ssl=context)


async def test_an_untrusted_connect_certificate_is_named(tmp_path: Path) -> None:
    server = await _tls_listener(tmp_path, tls.CertificateAuthority.create("the server's CA"))
    port = server.sockets[0].getsockname()[1]
    other = tls.CertificateAuthority.create("a CA that signed nothing here")
    client = connect.ConnectClient(
        f"https://127.0.0.1:{port}", auth=connect.ConnectAuth(ca_pem=other.pem)
    )
    try:
        error = await client.listing()
    finally:
        await client.aclose()
        server.close()
    assert isinstance(error, BackendError)
    assert (error.reason, error.transient) == ("ConnectTLSFailed", False)
    assert "not trusted" in error.message and "ca.crt" in error.message


async def test_a_refused_connection_is_not_a_tls_failure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = connect.ConnectClient(f"https://127.0.0.1:{port}")
    try:
        error = await client.listing()
    finally:
        await client.aclose()
    assert isinstance(error, BackendError)
    assert (error.reason, error.transient) == ("ConnectUnreachable", True)
