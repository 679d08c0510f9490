"""A secured pipeline: Kafka behind SASL_SSL (PLAIN, SCRAM), Connect REST on HTTPS with basic auth.

Why this exists: managed Kafka (Confluent Cloud) accepts only SASL_SSL with
PLAIN API keys, and a production Connect cluster serves its REST API over
HTTPS behind authentication.  The operator's Kafka probes and Connect client
must work through both, and fail with a reason that names the cause (wrong
password, untrusted certificate).  So the same real servers as
:mod:`tests.env.pipeline` (the same jars) are started secured:

* the KRaft broker has one client listener, ``SASL_SSL``, with PLAIN users in
  its JAAS config (as Confluent Cloud's API keys) and SCRAM-SHA-512 users
  written into the cluster metadata at format time (``kafka-storage format
  --add-scram``, the KRaft way); the broker talks to itself over the same
  listener with PLAIN;
* the Connect worker reaches Kafka through that listener with SCRAM-SHA-512,
  for its own clients and its connectors' (``producer.``, ``consumer.``,
  ``admin.``), and serves REST on ``https://`` with a keystore from the
  environment's CA and Kafka's ``BasicAuthSecurityRestExtension``
  (``PropertyFileLoginModule`` over a password file, named in a JAAS file);
* certificates come from :mod:`tests.env.tls`.

The basic-auth extension is one jar from Maven Central
(``org.apache.kafka:connect-basic-auth-extension``, same version as Kafka);
:func:`ensure_basic_auth_extension` fetches it with Maven into the cache next
to the pipeline's jars, in a directory of its own that goes on the worker's
class path: JAAS loads the login module through the class path, so the
extension cannot live in plugin.path's isolated class loaders.
"""

from __future__ import annotations

import secrets
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.env import artifacts, connect, ferretdb, kafka, pipeline, processes, tls

if TYPE_CHECKING:
    from tests.env.postgres import PostgresServer

BASIC_AUTH_EXTENSION = (
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
)
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
FETCH_TIMEOUT_S = 600.0


def _secret() -> str:
    # Hex only: it goes into JAAS strings and properties files unquoted.
    return secrets.token_hex(20)


def _key() -> str:
    # Shaped like a Confluent Cloud API key: 16 upper-case letters and digits.
    return secrets.token_hex(8).upper()


# ---------------------------------------------------------------------------
# the basic-auth REST extension


def basic_auth_dir() -> Path:
    """A directory of its own for the extension's jar: the pipeline's cache stays as it is."""
    version = artifacts.versions()["KAFKA_VERSION"]
    return artifacts.cache_root() / f"kafka-{version}-rest-auth"


def ensure_basic_auth_extension(timeout_s: float = FETCH_TIMEOUT_S) -> Path:
    """Fetch ``connect-basic-auth-extension`` from Maven Central unless it is cached."""
    version = artifacts.versions()["KAFKA_VERSION"]
    target = basic_auth_dir()
    jar = target / f"connect-basic-auth-extension-{version}.jar"
    if jar.is_file():
        return target
    tmp = target.with_name(target.name + ".tmp")
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-ntp",
            "-q",
            "-Dstyle.color=never",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
            f"-Dartifact=org.apache.kafka:connect-basic-auth-extension:{version}",
            f"-DoutputDirectory={tmp}",
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=artifacts.cache_root(),
    )
    if result.returncode != 0 or not (tmp / jar.name).is_file():
        raise RuntimeError(
            f"fetching connect-basic-auth-extension {version} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    tmp.rename(target)
    return target


# ---------------------------------------------------------------------------
# the security material


@dataclass(frozen=True)
class User:
    name: str
    password: str


@dataclass
class Security:
    """The CA, keystores, users and passwords of one secured pipeline, written under ``dir``."""

    dir: Path
    ca: tls.CertificateAuthority
    # A CA that signed nothing these servers present: "untrusted certificate".
    other_ca: tls.CertificateAuthority
    keystore_password: str
    broker: User  # PLAIN, inter-broker
    operator: User  # PLAIN, a Confluent Cloud style API key and secret
    connect: User  # SCRAM-SHA-512: the Connect worker and its connectors
    probe: User  # SCRAM-SHA-512: a second client, for credential rotation
    rest: User  # Connect REST basic auth
    rest_other: User  # a second REST user, for rotation
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path) -> Security:
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        sec = cls(
            dir=directory,
            ca=tls.CertificateAuthority.create(),
            other_ca=tls.CertificateAuthority.create("not the servers' CA"),
            keystore_password=_secret(),
            broker=User("broker", _secret()),
            operator=User(_key(), _secret()),
            connect=User("connect-worker", _secret()),
            probe=User("probe", _secret()),
            rest=User("operator", _secret()),
            rest_other=User("operator-next", _secret()),
        )
        sec.files["ca"] = sec.ca.write_pem(directory / "ca.pem")
        for name in ("kafka", "connect"):
            sec.files[name] = sec.ca.issue(name).write_pkcs12(
                directory / f"{name}.p12", sec.keystore_password
            )
        sec.files["rest-users"] = directory / "connect-rest-users.properties"
        sec.files["rest-users"].write_text(
            "".join(f"{u.name}: {u.password}\n" for u in (sec.rest, sec.rest_other))
        )
        sec.files["jaas"] = directory / "connect-jaas.conf"
        sec.files["jaas"].write_text(
            "KafkaConnect {\n"
            "  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule "
            f'required file="{sec.files["rest-users"]}";\n'
            "};\n"
        )
        return sec

    # --- the broker ---------------------------------------------------------

    def plain_users(self) -> tuple[User, ...]:
        return (self.broker, self.operator)

    def scram_users(self) -> tuple[User, ...]:
        return (self.connect, self.probe)

    def broker_props(self, port: int, controller_port: int) -> dict[str, str]:
        plain = " ".join(f'user_{u.name}="{u.password}"' for u in self.plain_users())
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                f'{PLAIN_LOGIN} required username="{self.broker.name}" '
                f'password="{self.broker.password}" {plain};'
            ),
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": f"{SCRAM_LOGIN} required;",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.files["kafka"]),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.files["ca"]),
            "ssl.client.auth": "none",
        }

    def format_args(self) -> list[str]:
        """``--add-scram`` for each SCRAM user: credentials in the KRaft metadata from the start."""
        args: list[str] = []
        for user in self.scram_users():
            args += ["--add-scram", f"SCRAM-SHA-512=[name={user.name},password={user.password}]"]
        return args

    # --- Java clients (the Connect worker) -----------------------------------

    def java_client_props(self, user: User, *, prefix: str = "") -> dict[str, str]:
        props = {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": (
                f'{SCRAM_LOGIN} required username="{user.name}" password="{user.password}";'
            ),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.files["ca"]),
        }
        return {prefix + k: v for k, v in props.items()}

    def connect_props(self) -> dict[str, str]:
        props: dict[str, str] = {}
        for prefix in ("", "producer.", "consumer.", "admin."):
            props.update(self.java_client_props(self.connect, prefix=prefix))
        # Jetty reads no PEM store, so the listener has a PKCS#12 keystore and no
        # truststore: one worker never forwards a request to another.
        https = "listeners.https."
        props.update(
            {
                "rest.advertised.listener": "https",
                f"{https}ssl.keystore.type": "PKCS12",
                f"{https}ssl.keystore.location": str(self.files["connect"]),
                f"{https}ssl.keystore.password": self.keystore_password,
                f"{https}ssl.key.password": self.keystore_password,
                f"{https}ssl.client.auth": "none",
                "rest.extension.classes": BASIC_AUTH_EXTENSION,
            }
        )
        return props

    def connect_jvm(self) -> list[str]:
        return [f"-Djava.security.auth.login.config={self.files['jaas']}"]

    def rest_http_options(self, user: User | None = None) -> dict[str, Any]:
        user = user or self.rest
        ca = ssl.create_default_context(cafile=str(self.files["ca"]))
        return {"auth": httpx.BasicAuth(user.name, user.password), "verify": ca}

    # --- what the operator is given -----------------------------------------

    def confluent_secret(
        self, *, password: str | None = None, ca: str | None = None
    ) -> dict[str, str]:
        """The Secret data Confluent Cloud documents for librdkafka, plus the CA as ``ssl.ca.pem``.

        ``bootstrap.servers`` is not in it: it comes from ``spec.kafka``.
        """
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": self.operator.name,
            "sasl.password": self.operator.password if password is None else password,
            "ssl.ca.pem": self.ca.pem if ca is None else ca,
        }

    def scram_secret(
        self, user: User | None = None, *, password: str | None = None
    ) -> dict[str, str]:
        user = user or self.probe
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": user.name,
            "sasl.password": user.password if password is None else password,
            "ssl.ca.pem": self.ca.pem,
        }

    def connect_secret(
        self, user: User | None = None, *, password: str | None = None, ca: str | None = None
    ) -> dict[str, str]:
        """``spec.connect.authSecretRef`` data: basic auth and the CA of the HTTPS listener."""
        user = user or self.rest
        return {
            "username": user.name,
            "password": user.password if password is None else password,
            "ca.crt": self.ca.pem if ca is None else ca,
        }

    def secret_values(self) -> list[str]:
        """Every password and key here: none may show up in a status, an Event or a log."""
        users = (self.broker, self.operator, self.connect, self.probe, self.rest, self.rest_other)
        return [self.keystore_password, *(u.password for u in users)]


# ---------------------------------------------------------------------------
# the servers


def start_secured_kafka(state_dir: Path, security: Security) -> kafka.KafkaServer:
    port, controller_port = processes.free_port(), processes.free_port()
    return kafka.start_kafka(
        state_dir,
        port=port,
        controller_port=controller_port,
        extra_props=security.broker_props(port, controller_port),
        format_args=security.format_args(),
    )


def start_secured_connect(
    state_dir: Path, bootstrap: str, security: Security
) -> connect.ConnectWorker:
    ensure_basic_auth_extension()
    return connect.start_connect(
        state_dir,
        bootstrap,
        extra_props=security.connect_props(),
        extra_jvm=security.connect_jvm(),
        extra_classpath=[basic_auth_dir() / "*"],
        scheme="https",
        http_options=security.rest_http_options(),
    )


@dataclass
class SecuredPipeline:
    """A :class:`pipeline.Pipeline` whose Kafka and Connect are secured, and its secrets."""

    pipeline: pipeline.Pipeline
    security: Security

    @classmethod
    def start(cls, state_dir: Path, *, postgres: PostgresServer | None = None) -> SecuredPipeline:
        artifacts.ensure_fetched()
        ensure_basic_auth_extension()
        state = Path(state_dir).resolve()
        security = Security.create(state / "tls")
        started: list[Any] = []
        try:
            ferret = ferretdb.start_ferretdb(state)
            started.append(ferret)
            kafka = start_secured_kafka(state, security)
            started.append(kafka)
            connect = start_secured_connect(state, kafka.bootstrap, security)
            started.append(connect)
        except BaseException:
            for s in reversed(started):
                s.stop()
            raise
        return cls(pipeline.Pipeline(state, kafka, connect, ferret, postgres), security)

    def stop(self) -> None:
        self.pipeline.stop()

    @property
    def bootstrap(self) -> str:
        return self.pipeline.kafka.bootstrap

    def librdkafka_config(self, data: dict[str, str] | None = None) -> dict[str, str]:
        """A librdkafka client config: the bootstrap servers and a Secret's data."""
        return {"bootstrap.servers": self.bootstrap, **(data or self.security.confluent_secret())}
