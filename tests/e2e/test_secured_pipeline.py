"""The operator through a secured pipeline: Kafka on SASL_SSL, Connect REST on HTTPS, basic auth.

Everything is real (tests/env/secured.py): the KRaft broker accepts only
SASL_SSL (PLAIN API keys as Confluent Cloud issues them, SCRAM-SHA-512 users
added at format time), the Connect worker reaches it with SCRAM for itself
and its connectors and serves REST over HTTPS behind Kafka's basic-auth
extension, and certificates come from the environment's own CA.

The operator gets what a user of a managed service gives it: the Secret keys
Confluent Cloud documents for librdkafka (``security.protocol``,
``sasl.mechanisms``, ``sasl.username``, ``sasl.password``) with the CA as
``ssl.ca.pem``, and for Connect ``username``/``password``/``ca.crt``. It must
pause and resume through them, probe topic retention through them, name a
wrong password or an untrusted CA in a condition without losing what it knew
of the job, replace its kept clients when a Secret rotates, and never show a
secret in a status, an Event or its DEBUG log.

The operator runs with DEBUG logging on a control plane of its own (a second
kube-apiserver and etcd, ~4 s), so that no other operator acts on these jobs.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from syncjob_operator.api import jobspec, v1alpha1
from syncjob_operator.backends.connect import ConnectClient, ConnectError
from syncjob_operator.backends.kube import Kube as KubeAdapter
from syncjob_operator.controller.retention import RetentionProber
from syncjob_operator.controller.shared import CONNECT_RETIRE_GRACE, Shared
from syncjob_operator.probes import errors, kafka_topics
from syncjob_operator.settings import Settings
from tests.env import chart, secured
from tests.env.postgres import PostgresServer
from tests.helpers.jobs import Job, all_in, make_job, patch_paused, status, wait_phase
from tests.helpers.kube import Kube
from tests.helpers.manifests import syncjob
from tests.helpers.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.helpers.paths import REPO
from tests.helpers.status import condition

pytestmark = pytest.mark.e2e


# --- fixtures: a control plane, a secured pipeline, an operator of their own -----


@pytest.fixture(scope="module")
def secure_kube(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kube]:
    if request.config.getoption("--kind"):
        pytest.skip("needs a control plane of its own; runs on the local one")
    from tests.env import controlplane

    plane = controlplane.ControlPlane(state=tmp_path_factory.mktemp("secured-controlplane"))
    plane.start(with_nodes=False)
    try:
        kube = Kube(kubeconfig=plane.kubeconfig)
        kube.apply((REPO / "crds" / "syncjob.dev_syncjobs.yaml").read_text())
        kube.kubectl(
            "wait", "--for=condition=Established", "crd/syncjobs.syncjob.dev", "--timeout=60s"
        )
        yield kube
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def secured_pipeline(
    tmp_path_factory: pytest.TempPathFactory, e2e_postgres: PostgresServer
) -> Iterator[secured.SecuredPipeline]:
    sp = secured.SecuredPipeline.start(
        tmp_path_factory.mktemp("secured-pipeline"), postgres=e2e_postgres
    )
    yield sp
    sp.stop()
    print(f"\n[e2e] secured pipeline logs under {sp.pipeline.state_dir}")


@pytest.fixture(scope="module")
def secure_operator(
    secure_kube: Kube, helm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    # The chart's ServiceAccount, as everywhere: the secured paths need no more RBAC.
    work = tmp_path_factory.mktemp("secured-operator")
    chart.install(secure_kube, helm, work, namespace=OPERATOR_NAMESPACE, values={})
    credentials = chart.service_account_kubeconfig(
        secure_kube, namespace=OPERATOR_NAMESPACE, path=work / "operator-kubeconfig"
    )
    op = OperatorProcess(
        kube=secure_kube,
        log=work / "operator.log",
        env={
            "KUBECONFIG": str(credentials),
            "SYNCJOB_LOG_LEVEL": "DEBUG",
            "SYNCJOB_LOG_FORMAT": "json",
        },
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="module")
def mongo(secured_pipeline: secured.SecuredPipeline) -> Iterator[Any]:
    client: Any = pymongo.MongoClient(
        secured_pipeline.pipeline.ferretdb.uri, serverSelectionTimeoutMS=10000
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def secure_namespace(secure_kube: Kube) -> str:
    # One namespace for the module: the leak check at the end reads all its Events.
    name = f"sec-{uuid.uuid4().hex[:6]}"
    secure_kube.kubectl("create", "namespace", name)
    return name


def put_secret(kube: Kube, namespace: str, name: str, data: dict[str, str]) -> None:
    kube.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data},
        namespace=namespace,
    )


def secured_job(
    sp: secured.SecuredPipeline, mongo: Any, namespace: str, *, rows: int
) -> tuple[Job, str]:
    """A Debezium source and Mongo sink through the secured worker; their Kafka topic."""
    assert sp.pipeline.postgres is not None
    job = make_job(sp.pipeline, sp.pipeline.postgres, mongo, namespace, rows=rows)
    return job, f"{job.topic}.public.{job.table}"


def spec_for(
    sp: secured.SecuredPipeline, job: Job, topic: str, *, connect_secret: str, kafka_secret: str
) -> dict[str, Any]:
    return syncjob(
        job.name,
        {
            "connect": {
                "url": sp.pipeline.connect.url,
                "connectors": [job.source, job.sink],
                "authSecretRef": {"name": connect_secret},
            },
            "kafka": {
                "bootstrapServers": sp.bootstrap,
                "configSecretRef": {"name": kafka_secret},
                "topics": [topic],
            },
        },
    )


def set_connect_secret(kube: Kube, job: Job, name: str) -> None:
    kube.kubectl(
        "patch",
        "syncjob",
        job.name,
        "-n",
        job.namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"connect": {"authSecretRef": {"name": name}}}}),
    )


def cleanup(sp: secured.SecuredPipeline, job: Job) -> None:
    for name in (job.source, job.sink):
        sp.pipeline.connect.delete_connector(name)
    job.sql(
        f"SELECT pg_drop_replication_slot('{job.slot}') FROM pg_replication_slots "
        f"WHERE slot_name = '{job.slot}' AND NOT active"
    )


# --- 1. pause and resume, with the retention probe, through the secured servers ------


def test_pause_and_resume_through_https_basic_auth_and_sasl_ssl(
    secure_kube: Kube,
    secure_operator: OperatorProcess,
    secured_pipeline: secured.SecuredPipeline,
    mongo: Any,
    secure_namespace: str,
) -> None:
    kube, sp, sec = secure_kube, secured_pipeline, secured_pipeline.security
    job, topic = secured_job(sp, mongo, secure_namespace, rows=30)
    put_secret(kube, job.namespace, "connect-auth", sec.connect_secret())
    put_secret(kube, job.namespace, "confluent", sec.confluent_secret())
    kube.apply(
        spec_for(sp, job, topic, connect_secret="connect-auth", kafka_secret="confluent"),
        namespace=job.namespace,
    )
    kube.wait_for("30 documents", lambda: job.collection.count_documents({}) == 30, timeout=120)
    wait_phase(kube, job, "Running")
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)

    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    for name in (job.source, job.sink):
        assert all_in(job.connect_status(name), "PAUSED"), job.connect_status(name)
    # The topic's retention, read through SASL_SSL with the Confluent-style Secret.
    s = kube.wait_for(
        "the Kafka retention bound",
        lambda: (
            (st := status(kube, job)).get("retention", {}).get("basis") == "kafka:retention.ms"
            and st
        ),
        timeout=60,
    )
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "False", risk
    assert topic in s["retention"]["message"], s["retention"]

    job.sql(f"INSERT INTO {job.table} SELECT g, 'new-' || g, g FROM generate_series(101, 110) g")
    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")
    want = job.source_rows()
    kube.wait_for("the sink to match the source", lambda: job.sink_rows() == want, timeout=90)
    cleanup(sp, job)


# --- 2. wrong passwords and untrusted CAs are named; the job keeps its state ---------


def test_wrong_credentials_and_untrusted_cas_are_named_and_the_state_is_kept(
    secure_kube: Kube,
    secure_operator: OperatorProcess,
    secured_pipeline: secured.SecuredPipeline,
    mongo: Any,
    secure_namespace: str,
) -> None:
    kube, sp, sec = secure_kube, secured_pipeline, secured_pipeline.security
    job, topic = secured_job(sp, mongo, secure_namespace, rows=5)
    good_connect, kafka_secret = f"{job.name}-connect", f"{job.name}-kafka"
    put_secret(kube, job.namespace, good_connect, sec.connect_secret())
    put_secret(kube, job.namespace, f"{job.name}-connect-badpw", sec.connect_secret(password="no"))
    put_secret(
        kube, job.namespace, f"{job.name}-connect-badca", sec.connect_secret(ca=sec.other_ca.pem)
    )
    put_secret(kube, job.namespace, kafka_secret, sec.confluent_secret())
    kube.apply(
        spec_for(sp, job, topic, connect_secret=good_connect, kafka_secret=kafka_secret),
        namespace=job.namespace,
    )
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=120)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    kube.wait_for(
        "the Kafka bound",
        lambda: status(kube, job).get("retention", {}).get("basis") == "kafka:retention.ms",
        timeout=60,
    )

    def kept_state() -> None:
        s = status(kube, job)
        assert (s.get("phase"), s.get("stage")) == ("Paused", "CDC"), s

    # Kafka: the same Secret, edited (the probe reads it at each probe).
    for data, reason, words in (
        (sec.confluent_secret(password="not-the-secret"), "KafkaAuthFailed", "SASL"),
        (sec.confluent_secret(ca=sec.other_ca.pem), "KafkaTLSFailed", "ssl.ca.pem"),
    ):
        put_secret(kube, job.namespace, kafka_secret, data)

        def named(reason: str = reason) -> dict[str, Any] | None:
            c = condition({"status": status(kube, job)}, "RetentionAtRisk")
            return c if c and c["status"] == "Unknown" and c["reason"] == reason else None

        c = kube.wait_for(f"RetentionAtRisk=Unknown/{reason}", named, timeout=60)
        assert words in c["message"] and sp.bootstrap in c["message"], c
        kept_state()
    put_secret(kube, job.namespace, kafka_secret, sec.confluent_secret())
    kube.wait_for(
        "RetentionAtRisk=False again",
        lambda: (
            (condition({"status": status(kube, job)}, "RetentionAtRisk") or {}).get("status")
            == "False"
        ),
        timeout=60,
    )

    # Connect: the job pointed at a Secret with a wrong password, then an untrusted CA.
    for suffix, reason, words in (
        ("badpw", "ConnectAuthFailed", "refused the credentials"),
        ("badca", "ConnectTLSFailed", "not trusted"),
    ):
        set_connect_secret(kube, job, f"{job.name}-connect-{suffix}")

        def stalled(reason: str = reason) -> dict[str, Any] | None:
            c = condition({"status": status(kube, job)}, "Stalled")
            return c if c and c["status"] == "True" and c["reason"] == reason else None

        c = kube.wait_for(f"Stalled=True/{reason}", stalled, timeout=60)
        assert words in c["message"], c
        kept_state()
    set_connect_secret(kube, job, good_connect)
    kube.wait_for(
        "Ready again",
        lambda: (condition({"status": status(kube, job)}, "Ready") or {}).get("status") == "True",
        timeout=60,
    )
    kept_state()
    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")
    cleanup(sp, job)


# --- 3. rotation: the old client is closed, the new credentials are used --------------


def sockets_to(port: int) -> int:
    """Established TCP connections of this process to 127.0.0.1:``port`` (from /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and int(remote.split(":")[1], 16) == port and inode in inodes:
            count += 1
    return count


def wait_until(what: str, predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def set_scram_password(sp: secured.SecuredPipeline, user: str, password: str) -> None:
    """Change a SCRAM user's password on the broker (through the PLAIN API key)."""
    admin = AdminClient(sp.librdkafka_config())
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)
    # The last reference goes with this frame: librdkafka closes its connections.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def shared(secure_kube: Kube) -> AsyncIterator[tuple[Shared, Clock]]:
    """The operator's own Shared, in this process, against the module's API server."""
    clock = Clock()
    kube = await KubeAdapter.connect(secure_kube.kubeconfig)
    # secret_ttl 0: the test reads a rotated Secret at once instead of a minute later.
    s = Shared(kube=kube, settings=Settings(), clock=clock, secret_ttl=0.0)
    yield s, clock
    await s.close()


async def test_a_rotated_kafka_secret_closes_the_old_admin_client(
    secure_kube: Kube,
    secured_pipeline: secured.SecuredPipeline,
    secure_namespace: str,
    shared: tuple[Shared, Clock],
) -> None:
    kube, sp, sec = secure_kube, secured_pipeline, secured_pipeline.security
    s, _ = shared
    port = int(sp.bootstrap.rsplit(":", 1)[1])
    secret = f"rotate-{uuid.uuid4().hex[:6]}"
    put_secret(kube, secure_namespace, secret, sec.scram_secret())
    spec = v1alpha1.parse_spec(
        {
            "paused": True,
            "kafka": {
                "bootstrapServers": sp.bootstrap,
                "configSecretRef": {"name": secret},
                "topics": ["syncjob-e2e-connect-status"],
            },
        }
    )
    prober = RetentionProber()

    async def probe() -> None:
        bound, errs = await prober.current(
            kube=s.kube,
            namespace=secure_namespace,
            spec=spec,
            paused_at=datetime.now(UTC),
            now=datetime.now(UTC),
            interval=0,
            kafka_admins=s,
        )
        assert not errs and bound is not None and bound.basis == "kafka:retention.ms", errs

    await probe()
    await probe()
    assert s.kafka_admins.opened == 1, "a second probe made a second client"
    (first,) = s.kafka_admins.kept()
    wait_until("the first client's connections", lambda: sockets_to(port) > 0)
    with_first = sockets_to(port)

    # Rotate: a new SCRAM password on the broker, then in the Secret.
    new_password = f"rotated-{uuid.uuid4().hex}"
    set_scram_password(sp, sec.probe.name, new_password)
    wait_until("the helper's connections to close", lambda: sockets_to(port) <= with_first)
    put_secret(kube, secure_namespace, secret, sec.scram_secret(password=new_password))

    await probe()
    (second,) = s.kafka_admins.kept()
    assert second is not first and first.closed and not second.closed
    assert (s.kafka_admins.opened, s.kafka_admins.closed) == (2, 1)
    # The old client's connections are gone: what is left is the new one's.
    wait_until("the old client's connections to close", lambda: sockets_to(port) <= with_first)

    # The old password no longer works anywhere, so the probe that passed used the new one.
    with pytest.raises(errors.KafkaAuthFailedError):
        await kafka_topics.probe_topic_retention(
            sp.librdkafka_config(sec.scram_secret()), topics=["t"], timeout_s=5
        )
    await s.close()
    wait_until("every connection to close", lambda: sockets_to(port) == 0)


async def test_a_rotated_connect_secret_closes_the_old_client_after_the_grace(
    secure_kube: Kube,
    secured_pipeline: secured.SecuredPipeline,
    secure_namespace: str,
    shared: tuple[Shared, Clock],
) -> None:
    kube, sp, sec = secure_kube, secured_pipeline, secured_pipeline.security
    s, clock = shared
    secret = f"rotate-connect-{uuid.uuid4().hex[:6]}"
    put_secret(kube, secure_namespace, secret, sec.connect_secret(sec.rest))
    spec = jobspec.ConnectSpec.model_validate(
        {"url": sp.pipeline.connect.url, "connectors": ["c"], "authSecretRef": {"name": secret}}
    )

    async def client() -> ConnectClient:
        c = await s.connect_client(secure_namespace, spec)
        assert isinstance(c, ConnectClient), c
        return c

    async def answers(c: ConnectClient) -> None:
        # Past the basic-auth filter: Connect itself says the connector does not exist.
        state = await c.connector("no-such-connector", with_offsets=False, known_type=None)
        assert state.state == "NotFound", state

    first = await client()
    await answers(first)
    assert await client() is first

    put_secret(kube, secure_namespace, secret, sec.connect_secret(sec.rest_other))
    second = await client()
    assert second is not first
    await answers(second)
    assert not first.closed  # a request of another job may still be on it
    clock.now += CONNECT_RETIRE_GRACE
    await s.sweep()
    assert first.closed and not second.closed

    # The client follows the Secret: a wrong password in it is refused.
    put_secret(kube, secure_namespace, secret, sec.connect_secret(sec.rest_other, password="x"))
    third = await client()
    with pytest.raises(ConnectError) as info:
        await answers(third)
    assert info.value.error.reason == "ConnectAuthFailed"


# --- 4. no secret anywhere: status, Events, the operator's DEBUG log ------------------


def test_no_secret_in_status_events_or_the_debug_log(
    secure_kube: Kube,
    secure_operator: OperatorProcess,
    secured_pipeline: secured.SecuredPipeline,
    secure_namespace: str,
) -> None:
    """Runs last: every Secret the tests above gave the operator, good and bad, was used."""
    kube, sec = secure_kube, secured_pipeline.security
    values = [*sec.secret_values(), "not-the-secret"]
    needles = list(values)
    needles += [base64.b64encode(v.encode()).decode() for v in values]
    for user in (sec.rest, sec.rest_other):
        needles.append(base64.b64encode(f"{user.name}:{user.password}".encode()).decode())
    texts = {
        "SyncJobs": kube.kubectl("get", "syncjobs", "-n", secure_namespace, "-o", "json").stdout,
        "Events": kube.kubectl("get", "events", "-n", secure_namespace, "-o", "json").stdout,
        "operator log": secure_operator.log.read_text(errors="replace"),
    }
    assert json.loads(texts["Events"])["items"], "no Events at all: nothing to check"
    log = texts["operator log"]
    assert '"severity": "debug"' in log, "the operator did not log at DEBUG"
    # The kept clients were made, replaced and closed, and said so, without a secret.
    assert "Kafka admin client for" in log and "Kafka Connect client for" in log
    leaks = {where: [n for n in needles if n in text] for where, text in texts.items()}
    assert not any(leaks.values()), f"secret values leaked: {leaks}"


async def test_the_secured_servers_refuse_without_credentials(
    secured_pipeline: secured.SecuredPipeline,
) -> None:
    """The environment is what it claims: no plaintext Kafka client, no anonymous REST."""
    sp = secured_pipeline
    ca = ssl.create_default_context(cafile=str(sp.security.files["ca"]))
    async with httpx.AsyncClient(verify=ca) as http:
        r = await http.get(f"{sp.pipeline.connect.url}/connectors")
    assert r.status_code == 401
    with pytest.raises(errors.SourceUnreachableError):
        await kafka_topics.probe_topic_retention(
            {"bootstrap.servers": sp.bootstrap}, topics=["syncjob-e2e-connect-status"], timeout_s=5
        )
