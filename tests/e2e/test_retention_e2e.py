"""The retention deadline of a paused Debezium job, end to end.

A real Debezium PostgreSQL connector holds a real replication slot; while the
job is paused, WAL written to the database eats into the slot's
``max_slot_wal_keep_size``.  The operator reads the slot, turns it into a
deadline, reports the loss before anyone resumes, and with
``autoResumeBefore`` resumes by itself so that no row is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.env.postgres import PostgresServer
from tests.helpers.jobs import (
    Job,
    event_reasons,
    patch_paused,
    status,
    syncjob_for,
    wait_phase,
)
from tests.helpers.kube import Kube
from tests.helpers.manifests import secret
from tests.helpers.sources import postgres_secret_data, write_wal
from tests.helpers.status import condition


@pytest.fixture
def small_slot_limit(e2e_postgres: PostgresServer) -> Iterator[PostgresServer]:
    e2e_postgres.reload({"max_slot_wal_keep_size": "24MB"})
    yield e2e_postgres
    e2e_postgres.reload({"max_slot_wal_keep_size": "-1"})


def source_secret(kube: Kube, job: Job) -> None:
    kube.apply(secret(f"{job.name}-db", postgres_secret_data(job.pg)), namespace=job.namespace)


def source_spec(job: Job) -> dict[str, Any]:
    return {
        "type": "postgresql",
        "connectionSecretRef": {"name": f"{job.name}-db"},
        "slotName": job.slot,
    }


def test_slot_pushed_past_its_limit_is_reported_lost_before_resume(
    kube: Kube, new_job: Any, small_slot_limit: PostgresServer
) -> None:
    job: Job = new_job(rows=5)
    source_secret(kube, job)
    kube.apply(
        syncjob_for(job, source=source_spec(job), retentionPolicy={"warnBefore": "1000h"}),
        namespace=job.namespace,
    )
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=90)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    kube.wait_for("the slot read", lambda: status(kube, job).get("retention"), timeout=30)

    for _ in range(3):  # two probes apart: a WAL rate, so a deadline
        write_wal(small_slot_limit, 3)
        time.sleep(2.2)
    s = kube.wait_for(
        "a deadline", lambda: (st := status(kube, job)).get("retentionDeadline") and st, timeout=30
    )
    assert s["retention"]["basis"] == "postgresql:safe_wal_size"
    at_risk = condition({"status": s}, "RetentionAtRisk")
    assert at_risk is not None and at_risk["status"] == "True"
    assert "DeadlineNear" in event_reasons(kube, job)

    write_wal(small_slot_limit, 40)
    with small_slot_limit.connect() as conn:
        conn.execute("CHECKPOINT")

    def exceeded() -> dict[str, Any] | None:
        c = condition({"status": status(kube, job)}, "RetentionExceeded")
        return c if c and c["status"] == "True" else None

    c = kube.wait_for("RetentionExceeded", exceeded, timeout=60)
    assert "snapshot" in c["message"]
    s = status(kube, job)
    assert s["phase"] == "Paused"  # reported while still paused, before anyone resumes
    assert condition({"status": s}, "Ready")["status"] == "False"  # type: ignore[index]
    assert "ChangeLogPurged" in event_reasons(kube, job)


def test_auto_resume_before_the_deadline_keeps_every_row(
    kube: Kube, new_job: Any, small_slot_limit: PostgresServer
) -> None:
    job: Job = new_job(rows=10)
    source_secret(kube, job)
    kube.apply(
        syncjob_for(
            job,
            source=source_spec(job),
            retentionPolicy={"warnBefore": "1000h", "autoResumeBefore": "999h"},
        ),
        namespace=job.namespace,
    )
    kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=90)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    job.sql(f"INSERT INTO {job.table} SELECT g, 'p-' || g, g FROM generate_series(11, 40) g")
    job.sql(f"DELETE FROM {job.table} WHERE id <= 3")

    # WAL written while paused gives a rate and so a deadline; it is within
    # autoResumeBefore at once, so the operator resumes before the slot is lost.
    def auto_resumed() -> dict[str, Any] | None:
        st = status(kube, job)
        return st if st.get("autoResumed") and st.get("phase") == "Running" else None

    deadline = time.monotonic() + 60
    resumed = None
    while resumed is None and time.monotonic() < deadline:
        write_wal(small_slot_limit, 2)
        time.sleep(1)
        resumed = auto_resumed()
    assert resumed is not None, status(kube, job)
    assert condition({"status": resumed}, "Ready")["reason"] == "AutoResumed"  # type: ignore[index]
    assert "AutoResumed" in event_reasons(kube, job)
    want = job.source_rows()
    kube.wait_for("every row", lambda: job.sink_rows() == want, timeout=90)
    assert len(want) == 37

    # The user acknowledges in Git: spec.paused false.
    patch_paused(kube, job, False)
    running = wait_phase(kube, job, "Running")
    assert "autoResumed" not in running["status"]
    assert condition(running, "Ready")["status"] == "True"  # type: ignore[index]


def set_topic_retention(bootstrap: str, topic: str, ms: int) -> None:
    from confluent_kafka.admin import (  # type: ignore[import-untyped]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", str(ms), incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_topic_retention_bounds_the_deadline_when_it_is_the_earliest(
    kube: Kube, new_job: Any, e2e_pipeline: Any
) -> None:
    job: Job = new_job(rows=3)
    topic = f"{job.topic}.public.{job.table}"
    kube.apply(
        syncjob_for(
            job,
            source={"type": "oracle", "retention": "72h"},
            kafka={"bootstrapServers": e2e_pipeline.kafka.bootstrap, "topics": [topic]},
        ),
        namespace=job.namespace,
    )
    kube.wait_for("3 documents", lambda: job.collection.count_documents({}) == 3, timeout=90)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    set_topic_retention(e2e_pipeline.kafka.bootstrap, topic, 3_600_000)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    s = kube.wait_for(
        "a deadline", lambda: (st := status(kube, job)).get("retentionDeadline") and st, timeout=30
    )
    assert s["retention"]["basis"] == "kafka:retention.ms", s["retention"]
    # The sink's group, named as Kafka Connect names it, was read: the sink had
    # written every row, so nothing unread anchors earlier than the pause.
    assert (
        f"Sink group connect-{job.sink} has read all of topic {topic}"
        in (s["retention"]["message"])
    ), s["retention"]
    paused_at = s["pausedAt"].replace("Z", "+00:00")
    deadline = s["retentionDeadline"].replace("Z", "+00:00")
    from datetime import datetime, timedelta

    assert datetime.fromisoformat(deadline) - datetime.fromisoformat(paused_at) <= timedelta(
        hours=1
    )
