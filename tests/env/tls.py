"""A throwaway certificate authority for the secured test pipeline.

Why this exists: the secured end-to-end tests run the real Kafka broker with
a SASL_SSL listener and the real Connect worker with REST over HTTPS, and the
operator must verify both against a CA it is given in a Secret, as it would a
managed service's.  So the environment makes its own CA and server
certificates (with the ``cryptography`` package, no openssl command line),
valid for the loopback addresses the servers listen on, and writes them in
the forms each side reads:

* PEM text of the CA, for librdkafka's ``ssl.ca.pem``, Connect's ``ca.crt``
  and Java's ``ssl.truststore.type=PEM``;
* a PKCS#12 keystore (key + certificate chain) for the broker and for
  Connect's Jetty, which read no PEM keystore.

A second, unrelated CA gives the "untrusted certificate" cases a CA that is
well-formed but signed nothing the servers present.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Where the test servers listen, and what a client may call them.
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
VALIDITY = datetime.timedelta(days=2)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "syncjob-operator tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


@dataclass(frozen=True)
class ServerCertificate:
    """A server's key and certificate, signed by :class:`CertificateAuthority`."""

    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write_pkcs12(self, path: Path, password: str) -> Path:
        """A PKCS#12 keystore (key, certificate, CA) that Java's KeyStore reads."""
        blob = pkcs12.serialize_key_and_certificates(
            self.name.encode(),
            self.key,
            self.certificate,
            [self.ca_certificate],
            serialization.BestAvailableEncryption(password.encode()),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        return path


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that signs server certificates for the loopback addresses."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, common_name: str = "syncjob-operator test CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=certificate)

    @property
    def pem(self) -> str:
        """The CA certificate as PEM text (what ``ssl.ca.pem`` and ``ca.crt`` carry)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write_pem(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.pem)
        return path

    def issue(self, name: str, names: tuple[str, ...] = LOOPBACK_NAMES) -> ServerCertificate:
        """A server certificate for ``names`` (IP addresses and DNS names)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_san(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return ServerCertificate(
            name=name, key=key, certificate=certificate, ca_certificate=self.certificate
        )
