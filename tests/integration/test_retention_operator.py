"""The retention deadline as the operator reports it, read from real databases and Kafka.

The job here is paused by scaling a Deployment (no Kafka Connect needed); its
``spec.source`` points at a real PostgreSQL replication slot or a real MariaDB,
through a Secret, exactly as in production, and its ``spec.kafka`` at a real
broker with a sink consumer group named in the spec.  The Debezium end-to-end
version (a real connector's slot pushed past its limit) is in tests/e2e.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from tests.env.kafka import KafkaServer
from tests.env.mariadb import MariaDBServer
from tests.env.postgres import PostgresServer
from tests.helpers.kube import Kube
from tests.helpers.manifests import deployment, secret, syncjob, workload_ref
from tests.helpers.metrics import Sample, of_job, scrape_when_up
from tests.helpers.operator import OperatorProcess
from tests.helpers.sources import (
    PG_KEEP_SIZE_MB,
    WalWriter,
    mariadb_secret_data,
    postgres_secret_data,
    write_wal,
)
from tests.helpers.status import condition, converged, status
from tests.helpers.topics import commit, create_partitioned, produce

DEPLOY = workload_ref("connect")


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_mariadb_deadline_is_paused_at_plus_expiry(
    kube: Kube, operator: OperatorProcess, namespace: str, mariadb_server: MariaDBServer
) -> None:
    mariadb_server.set({"binlog_expire_logs_seconds": 86400})
    kube.apply(secret("db", mariadb_secret_data(mariadb_server)), namespace=namespace)
    kube.apply(deployment("connect", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "maria",
            {
                "paused": True,
                "workloads": [DEPLOY],
                "source": {"type": "mariadb", "connectionSecretRef": {"name": "db"}},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "maria", "Paused"))
    s = kube.wait_for(
        "a deadline",
        lambda: (st := status(kube, namespace, "maria")).get("retentionDeadline") and st,
    )
    assert s["retention"]["basis"] == "mariadb:binlog_expire_logs_seconds"
    assert s["retention"]["expireSeconds"] == 86400
    assert when(s["retentionDeadline"]) - when(s["pausedAt"]) == timedelta(seconds=86400)
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "False"
    # The credentials are nowhere in what the operator wrote.
    everything = str(kube.get("syncjob", "maria", namespace)) + str(kube.events(namespace, "maria"))
    assert mariadb_server.password not in everything
    assert mariadb_server.password not in operator.log.read_text(errors="replace")


def test_configured_retention_for_oracle_and_its_warning(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("connect", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "ora",
            {
                "paused": True,
                "workloads": [DEPLOY],
                "source": {"type": "oracle", "retention": "2h"},
                "retentionPolicy": {"warnBefore": "3h"},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "ora", "Paused"))
    s = kube.wait_for(
        "a deadline", lambda: (st := status(kube, namespace, "ora")).get("retentionDeadline") and st
    )
    assert s["retention"]["basis"] == "spec.source.retention"
    assert when(s["retentionDeadline"]) - when(s["pausedAt"]) == timedelta(hours=2)
    # 2 h left is within warnBefore (3 h): at risk, with a Warning Event.
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "True" and risk["reason"] == "DeadlineNear"
    kube.wait_for(
        "the Warning",
        lambda: any(
            e["reason"] == "DeadlineNear" and e["type"] == "Warning"
            for e in kube.events(namespace, "ora")
        ),
    )
    printed = kube.kubectl("get", "sj", "ora", "-n", namespace).stdout
    assert s["retentionDeadline"] in printed  # the printer column shows the deadline


def test_postgres_slot_deadline_shrinks_then_the_loss_is_reported(
    kube: Kube,
    operator: OperatorProcess,
    namespace: str,
    pg_server: PostgresServer,
    pg_slot: str,
) -> None:
    kube.apply(secret("pg", postgres_secret_data(pg_server)), namespace=namespace)
    kube.apply(deployment("connect", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "pg",
            {
                "paused": True,
                "workloads": [DEPLOY],
                "source": {
                    "type": "postgresql",
                    "connectionSecretRef": {"name": "pg"},
                    "slotName": pg_slot,
                },
                "retentionPolicy": {"warnBefore": "1000h"},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "pg", "Paused"))
    s = kube.wait_for(
        "the slot read", lambda: (st := status(kube, namespace, "pg")).get("retention") and st
    )
    assert s["retention"]["basis"].startswith("postgresql:")
    safe_before = s["retention"]["safeBytes"]

    # WAL written while the job is paused: safe_wal_size shrinks, a rate is
    # measured, and the deadline appears within warnBefore.
    for _ in range(3):
        write_wal(pg_server, 4)
        time.sleep(2.2)  # the tests probe every 2 s
    s = kube.wait_for(
        "a deadline",
        lambda: (st := status(kube, namespace, "pg")).get("retentionDeadline") and st,
        timeout=30,
    )
    assert s["retention"]["basis"] == "postgresql:safe_wal_size"
    assert s["retention"]["safeBytes"] < safe_before
    assert s["retention"]["walBytesPerSecond"] > 0
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "True"

    # Past the slot's limit: the slot is lost, and the operator says so.
    write_wal(pg_server, 40)
    with pg_server.connect() as conn:
        conn.execute("CHECKPOINT")

    def exceeded() -> dict[str, Any] | None:
        c = condition({"status": status(kube, namespace, "pg")}, "RetentionExceeded")
        return c if c and c["status"] == "True" else None

    c = kube.wait_for("RetentionExceeded", exceeded, timeout=30)
    assert "lost" in c["message"].lower() or "snapshot" in c["message"].lower()
    s = status(kube, namespace, "pg")
    assert s["retention"]["lost"] is True
    ready = condition({"status": s}, "Ready")
    assert (
        ready is not None and ready["status"] == "False" and ready["reason"] == "RetentionExceeded"
    )
    assert any(
        e["reason"] == "ChangeLogPurged" and e["type"] == "Warning"
        for e in kube.events(namespace, "pg")
    )


def test_probe_failure_names_the_cause_and_falls_back(
    kube: Kube, operator: OperatorProcess, namespace: str, pg_server: PostgresServer
) -> None:
    kube.apply(
        secret("pg", postgres_secret_data(pg_server, password="not-the-password")),
        namespace=namespace,
    )
    kube.apply(deployment("connect", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "pgbad",
            {
                "paused": True,
                "workloads": [DEPLOY],
                "source": {
                    "type": "postgresql",
                    "connectionSecretRef": {"name": "pg"},
                    "slotName": "whatever",
                    "retention": "24h",
                },
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "pgbad", "Paused"))
    s = kube.wait_for(
        "a deadline",
        lambda: (st := status(kube, namespace, "pgbad")).get("retentionDeadline") and st,
    )
    # The configured retention stands in; the failure is named, not hidden.
    assert s["retention"]["basis"] == "spec.source.retention"
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "Unknown"
    assert risk["reason"] == "AuthenticationFailed", risk
    assert "falling back to spec.source.retention" in risk["message"]
    text = str(s) + str(kube.events(namespace, "pgbad"))
    assert "not-the-password" not in text
    assert "not-the-password" not in operator.log.read_text(errors="replace")


def paused_pg_job(
    kube: Kube, namespace: str, server: PostgresServer, slot: str, name: str, warn_before: str
) -> None:
    """A job paused by scaling a Deployment, whose source is ``slot`` on ``server``; once Paused."""
    kube.apply(secret("pg", postgres_secret_data(server)), namespace=namespace)
    kube.apply(deployment("connect", 1), namespace=namespace)
    source = {"type": "postgresql", "connectionSecretRef": {"name": "pg"}, "slotName": slot}
    spec = {
        "paused": True,
        "workloads": [DEPLOY],
        "source": source,
        "retentionPolicy": {"warnBefore": warn_before},
    }
    kube.apply(syncjob(name, spec), namespace=namespace)
    kube.wait_for("Paused", lambda: converged(kube, namespace, name, "Paused"))


def warnings(kube: Kube, namespace: str, name: str, reason: str) -> int:
    """How many times a Warning with ``reason`` was posted (an aggregated Event counts each)."""
    return sum(
        int(e.get("count") or 1)
        for e in kube.events(namespace, name)
        if e["type"] == "Warning" and e["reason"] == reason
    )


def risk_is(kube: Kube, namespace: str, name: str, want: str, reason: str) -> dict[str, Any] | None:
    """The status once RetentionAtRisk is ``want`` with ``reason``."""
    s = status(kube, namespace, name)
    c = condition({"status": s}, "RetentionAtRisk")
    return s if c and (c["status"], c["reason"]) == (want, reason) else None


@pytest.fixture
def keep_size_restored(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session server's max_slot_wal_keep_size, put back after a test that changes it."""
    try:
        yield pg_server
    finally:
        pg_server.reload({"max_slot_wal_keep_size": f"{PG_KEEP_SIZE_MB}MB"})


def test_postgres_unreserved_slot_is_at_risk_until_reserved_again_or_lost(
    kube: Kube,
    operator: OperatorProcess,
    namespace: str,
    keep_size_restored: PostgresServer,
    pg_slot: str,
) -> None:
    """wal_status as PostgreSQL means it: unreserved is a risk (the WAL is still there), a slot
    reserved again clears it, and only lost (a checkpoint removed the WAL) is RetentionExceeded."""
    pg_server = keep_size_restored
    paused_pg_job(kube, namespace, pg_server, pg_slot, "pgu", warn_before="1h")
    kube.wait_for("the slot read", lambda: status(kube, namespace, "pgu").get("retention"))

    # Past max_slot_wal_keep_size, no checkpoint: unreserved.
    write_wal(pg_server, PG_KEEP_SIZE_MB + 4)
    s = kube.wait_for(
        "RetentionAtRisk=True/SlotUnreserved",
        lambda: risk_is(kube, namespace, "pgu", "True", "SlotUnreserved"),
        timeout=60,
    )
    assert s["retention"]["basis"] == "postgresql:wal_status" and s["retention"]["lost"] is False
    exceeded = condition({"status": s}, "RetentionExceeded")
    assert exceeded is not None and exceeded["status"] == "False"
    ready = condition({"status": s}, "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("True", "Paused")
    kube.wait_for("the Warning", lambda: warnings(kube, namespace, "pgu", "SlotUnreserved") == 1)

    # The keep size raised (what a DBA does to buy time): reserved again, the
    # next probe gives an ordinary deadline, far beyond warnBefore.
    pg_server.reload({"max_slot_wal_keep_size": "1TB"})
    s = kube.wait_for(
        "RetentionAtRisk=False/DeadlineFar",
        lambda: risk_is(kube, namespace, "pgu", "False", "DeadlineFar"),
        timeout=60,
    )
    assert s["retention"]["basis"] == "postgresql:safe_wal_size"
    assert when(s["retentionDeadline"]) > datetime.now(UTC) + timedelta(hours=1)

    # Back to the small keep size: unreserved again; then a checkpoint removes the WAL.
    pg_server.reload({"max_slot_wal_keep_size": f"{PG_KEEP_SIZE_MB}MB"})
    kube.wait_for(
        "RetentionAtRisk=True/SlotUnreserved again",
        lambda: risk_is(kube, namespace, "pgu", "True", "SlotUnreserved"),
        timeout=60,
    )
    with pg_server.connect() as conn:
        conn.execute("CHECKPOINT")

    def lost() -> dict[str, Any] | None:
        s = status(kube, namespace, "pgu")
        c = condition({"status": s}, "RetentionExceeded")
        return s if c and c["status"] == "True" else None

    s = kube.wait_for("RetentionExceeded", lost, timeout=60)
    assert s["retention"]["basis"] == "postgresql:wal_status" and s["retention"]["lost"] is True
    ready = condition({"status": s}, "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == (
        "False",
        "RetentionExceeded",
    )
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "False"
    kube.wait_for("the loss's Warning", lambda: warnings(kube, namespace, "pgu", "ChangeLogPurged"))


def test_postgres_deadline_survives_an_operator_sigkill(
    kube: Kube,
    operator: OperatorProcess,
    namespace: str,
    pg_server: PostgresServer,
    pg_slot: str,
) -> None:
    """Killed and restarted while a job is paused and at risk, the operator goes on from the
    WAL rate in status: the same deadline, no condition flipped, no second Warning, and the
    deadline's metric series there from the first scrape that shows the job."""
    paused_pg_job(kube, namespace, pg_server, pg_slot, "pgk", warn_before="1000h")
    # A steady writer: 32 MB last about three minutes, and the deadline stays put.
    with WalWriter(pg_server, bytes_per_second=192 * 1024, limit_s=240):
        kube.wait_for(
            "RetentionAtRisk=True/DeadlineNear",
            lambda: risk_is(kube, namespace, "pgk", "True", "DeadlineNear"),
            timeout=60,
        )
        kube.wait_for("the Warning", lambda: warnings(kube, namespace, "pgk", "DeadlineNear") == 1)
        time.sleep(5)  # a few more probes: the rate settles
        before = status(kube, namespace, "pgk")
        assert before["retention"]["walSampleLsn"] and before["retention"]["walSampledAt"]

        operator.stop(kill=True)
        operator.start()

        # Every scrape from the first that shows the job has its deadline series.
        def job_shown() -> list[Sample] | None:
            samples = scrape_when_up(operator.metrics_url)
            return samples if of_job(samples, "syncjob_phase", namespace, "pgk") else None

        first = kube.wait_for(
            "the job's series after the restart", job_shown, timeout=60, interval=0.05
        )
        assert of_job(first, "syncjob_retention_deadline_seconds", namespace, "pgk")
        seen: list[dict[str, Any]] = []
        stop_at = time.monotonic() + 12  # several probes (every 2 s) by the new process
        while time.monotonic() < stop_at:
            seen.append(status(kube, namespace, "pgk"))
            samples = scrape_when_up(operator.metrics_url)
            assert of_job(samples, "syncjob_retention_deadline_seconds", namespace, "pgk")
            time.sleep(0.5)

    after = seen[-1]
    print(f"\ndeadline before {before['retentionDeadline']}, after {after['retentionDeadline']}")
    assert all(s.get("retentionDeadline") for s in seen), "the deadline went away"
    # The written deadline is kept unless it moved by more than a minute: it did not.
    moved = when(after["retentionDeadline"]) - when(before["retentionDeadline"])
    assert abs(moved) <= timedelta(seconds=60)
    times = {c["type"]: c["lastTransitionTime"] for c in before["conditions"]}
    for s in seen:
        assert {c["type"]: c["lastTransitionTime"] for c in s["conditions"]} == times
        risk = condition({"status": s}, "RetentionAtRisk")
        assert risk is not None and risk["status"] == "True"
    assert warnings(kube, namespace, "pgk", "DeadlineNear") == 1


def test_kafka_deadline_from_the_sinks_unread_record_then_the_loss(
    kube: Kube, operator: OperatorProcess, namespace: str, kafka_server: KafkaServer
) -> None:
    topic = create_partitioned(kafka_server, 1, {"retention.ms": str(3600 * 1000)})
    start = datetime.now(UTC).replace(microsecond=0)
    written = [start - timedelta(minutes=40 - i) for i in range(6)]
    produce(kafka_server, topic, 0, written)
    commit(kafka_server, "mongo-orders", {(topic, 0): 2})
    kube.apply(deployment("connect", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "kaf",
            {
                "paused": True,
                "workloads": [DEPLOY],
                "kafka": {
                    "bootstrapServers": kafka_server.bootstrap,
                    "topics": [topic],
                    "sinkConsumerGroups": ["mongo-orders"],
                },
                "retentionPolicy": {"warnBefore": "10m"},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "kaf", "Paused"))

    def anchored() -> dict[str, Any] | None:
        # A probe that could not fetch the record (a loaded machine) counts from the
        # pause and says so; the next one anchors.
        st = status(kube, namespace, "kaf")
        return st if "oldest record" in st.get("retention", {}).get("message", "") else None

    s = kube.wait_for("a deadline anchored at the unread record", anchored)
    # The record at the committed offset was written 38 minutes before the start:
    # its deadline, not pausedAt + 1h.
    assert s["retention"]["basis"] == "kafka:retention.ms"
    assert when(s["retentionDeadline"]) == written[2] + timedelta(hours=1)
    assert when(s["retentionDeadline"]) < when(s["pausedAt"]) + timedelta(hours=1)
    assert "mongo-orders" in s["retention"]["message"] and "offset 2" in s["retention"]["message"]
    risk = condition({"status": s}, "RetentionAtRisk")
    assert risk is not None and risk["status"] == "False", risk

    # The topic's retention cut to 3 seconds: Kafka deletes the records the
    # sink never read, and the operator reads the loss from the log start offset.
    admin = AdminClient({"bootstrap.servers": kafka_server.bootstrap})
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "3000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    cut = time.monotonic()

    def exceeded() -> dict[str, Any] | None:
        c = condition({"status": status(kube, namespace, "kaf")}, "RetentionExceeded")
        return c if c and c["status"] == "True" else None

    c = kube.wait_for("RetentionExceeded", exceeded, timeout=120)
    print(f"\nRetentionExceeded {time.monotonic() - cut:.1f}s after retention.ms was cut to 3s")
    assert f"topic {topic} partition 0" in c["message"] and "deleted 4 records" in c["message"]
    s = status(kube, namespace, "kaf")
    assert s["retention"]["lost"] is True
    ready = condition({"status": s}, "Ready")
    assert ready is not None and ready["reason"] == "RetentionExceeded"
