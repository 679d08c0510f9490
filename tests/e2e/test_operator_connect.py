"""The operator pausing and resuming real Debezium jobs through the real Kafka Connect API.

Everything is real: the control plane (tests/env/controlplane.py), the
operator process, PostgreSQL, Kafka (KRaft), a Connect worker with the
Debezium PostgreSQL source and the MongoDB sink, FerretDB.  Faults Connect
cannot be made to show (a 500, a hang, a dropped or refused connection, a 401)
come from tests/env/faultproxy.py in front of the real worker.

Each test has its own table, topic prefix, slot and connector names, so they
share one pipeline.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pymongo
import pytest

from tests.conftest import Kube, OperatorProcess, condition, syncjob
from tests.env import connectors, pipeline
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.env.postgres import PostgresServer

Rows = dict[int, tuple[str, int]]
ID_STRATEGIES = "com.mongodb.kafka.connect.sink.processor.id.strategy."


# --- helpers -----------------------------------------------------------------


@dataclass
class Job:
    """One sync job: a table, its Debezium source, its Mongo sink, and its SyncJob."""

    name: str
    table: str
    source: str
    sink: str
    slot: str
    topic: str
    namespace: str
    pg: PostgresServer
    p: pipeline.Pipeline
    mongo: Any

    @property
    def collection(self) -> Any:
        return self.mongo["e2e"][self.table]

    def sql(self, statement: str) -> None:
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            conn.execute(statement)

    def source_rows(self) -> Rows:
        with psycopg.connect(self.pg.dsn()) as conn:
            rows = conn.execute(f"SELECT id, name, qty FROM {self.table}").fetchall()
        return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}

    def sink_rows(self) -> Rows:
        return {int(d["_id"]): (d["name"], int(d["qty"])) for d in self.collection.find({})}

    def connect_status(self, name: str) -> dict[str, Any]:
        return dict(self.p.connect.status(name))


def make_job(
    p: pipeline.Pipeline,
    pg: PostgresServer,
    mongo: Any,
    namespace: str,
    *,
    rows: int,
    slow_snapshot_s: float | None = None,
) -> Job:
    tag = uuid.uuid4().hex[:6]
    table = f"orders_{tag}"
    job = Job(
        name=f"job-{tag}",
        table=table,
        source=f"src-{tag}",
        sink=f"sink-{tag}",
        slot=f"slot_{tag}",
        topic=f"e2e{tag}",
        namespace=namespace,
        pg=pg,
        p=p,
        mongo=mongo,
    )
    job.sql(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL);"
        f"INSERT INTO {table} SELECT g, 'item-' || g, g FROM generate_series(1, {rows}) g;"
    )
    overrides = (
        connectors.slow_snapshot_overrides(f"public.{table}", sleep_per_row_s=slow_snapshot_s)
        if slow_snapshot_s
        else {}
    )
    p.connect.put_connector(
        job.source,
        p.postgres_source_config(
            topic_prefix=job.topic, tables=[f"public.{table}"], slot_name=job.slot, **overrides
        ),
    )
    p.connect.put_connector(
        job.sink,
        p.mongo_sink_config(
            topics=[f"{job.topic}.public.{table}"], database="e2e", collection=table
        ),
    )
    return job


def syncjob_for(job: Job, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "connect": {"url": job.p.connect.url, "connectors": [job.source, job.sink]},
    }
    base.update(spec)
    return syncjob(job.name, base)


def status(kube: Kube, job: Job) -> dict[str, Any]:
    obj = kube.get("syncjob", job.name, job.namespace) or {}
    return dict(obj.get("status") or {})


def wait_phase(kube: Kube, job: Job, phase: str, timeout: float = 90) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        obj = kube.get("syncjob", job.name, job.namespace)
        s = (obj or {}).get("status") or {}
        if (
            obj
            and s.get("phase") == phase
            and s.get("observedGeneration") == obj["metadata"]["generation"]
        ):
            return obj
        return None

    return dict(kube.wait_for(f"{job.name} {phase}", ok, timeout=timeout))


def patch_paused(kube: Kube, job: Job, paused: bool) -> None:
    kube.kubectl(
        "patch",
        "syncjob",
        job.name,
        "-n",
        job.namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"paused": paused}}),
    )


def all_in(status: dict[str, Any], state: str) -> bool:
    states = [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
    return all(s == state for s in states) and (state == "STOPPED" or bool(status["tasks"]))


def event_reasons(kube: Kube, job: Job) -> list[str]:
    return [e["reason"] for e in kube.events(job.namespace, job.name)]


@pytest.fixture(scope="module")
def mongo(e2e_pipeline: pipeline.Pipeline) -> Iterator[Any]:
    client: Any = pymongo.MongoClient(e2e_pipeline.ferretdb.uri, serverSelectionTimeoutMS=10000)
    yield client
    client.close()


@pytest.fixture
def new_job(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    e2e_postgres: PostgresServer,
    mongo: Any,
    namespace: str,
) -> Iterator[Any]:
    made: list[Job] = []

    def factory(rows: int = 20, slow_snapshot_s: float | None = None) -> Job:
        job = make_job(
            e2e_pipeline, e2e_postgres, mongo, namespace, rows=rows, slow_snapshot_s=slow_snapshot_s
        )
        made.append(job)
        return job

    yield factory
    for job in made:
        kube.kubectl(
            "delete", "syncjob", job.name, "-n", job.namespace, "--wait=false", check=False
        )
        for name in (job.source, job.sink):
            e2e_pipeline.connect.delete_connector(name)
        job.sql(
            f"SELECT pg_drop_replication_slot('{job.slot}') FROM pg_replication_slots "
            f"WHERE slot_name = '{job.slot}' AND NOT active"
        )


# --- 1. Snapshot, then CDC ----------------------------------------------------


def test_snapshot_then_cdc_and_every_row_reaches_the_sink(kube: Kube, new_job: Any) -> None:
    job: Job = new_job(rows=150, slow_snapshot_s=0.03)
    kube.apply(syncjob_for(job), namespace=job.namespace)
    kube.wait_for(
        "stage Snapshot", lambda: status(kube, job).get("stage") == "Snapshot", timeout=60
    )
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=120)
    kube.wait_for("150 documents", lambda: job.collection.count_documents({}) == 150, timeout=90)
    assert job.sink_rows() == job.source_rows()
    assert "StageCDC" in event_reasons(kube, job)


# --- 2. Pause, change while paused, resume: nothing lost ----------------------


def test_pause_holds_changes_and_resume_delivers_all_of_them(kube: Kube, new_job: Any) -> None:
    job: Job = new_job(rows=30)
    kube.apply(syncjob_for(job), namespace=job.namespace)
    kube.wait_for("30 documents", lambda: job.collection.count_documents({}) == 30, timeout=90)
    wait_phase(kube, job, "Running")
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)

    patch_paused(kube, job, True)
    paused = wait_phase(kube, job, "Paused")
    for name in (job.source, job.sink):
        assert all_in(job.connect_status(name), "PAUSED"), job.connect_status(name)
    reported = {c["name"]: c for c in paused["status"]["connectors"]}
    assert reported[job.source]["state"] == "PAUSED"
    assert all(t["state"] == "PAUSED" for t in reported[job.source]["tasks"])
    assert condition(paused, "Paused")["status"] == "True"  # type: ignore[index]

    before = job.sink_rows()
    job.sql(
        f"INSERT INTO {job.table} SELECT g, 'new-' || g, g FROM generate_series(101, 120) g;"
        f"UPDATE {job.table} SET qty = qty + 1000 WHERE id <= 10;"
        f"DELETE FROM {job.table} WHERE id BETWEEN 21 AND 25;"
    )
    time.sleep(5)  # heartbeats and offset flushes happen every second: plenty of time to leak
    assert job.sink_rows() == before, "changes reached the sink while paused"

    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")
    want = job.source_rows()
    kube.wait_for("the sink to match the source", lambda: job.sink_rows() == want, timeout=90)
    assert len(want) == 30 + 20 - 5


# --- 3. A pause during the snapshot waits for CDC -----------------------------


def test_pause_during_snapshot_is_deferred_until_cdc(kube: Kube, new_job: Any) -> None:
    job: Job = new_job(rows=200, slow_snapshot_s=0.04)  # ~8 s of snapshot
    kube.apply(syncjob_for(job), namespace=job.namespace)
    kube.wait_for(
        "stage Snapshot", lambda: status(kube, job).get("stage") == "Snapshot", timeout=60
    )
    patch_paused(kube, job, True)
    pending = wait_phase(kube, job, "PausePending", timeout=30)
    paused_cond = condition(pending, "Paused")
    assert paused_cond is not None
    assert paused_cond["status"] == "False" and paused_cond["reason"] == "WaitingForCDCStage"
    assert "PauseDeferred" in event_reasons(kube, job)
    assert job.connect_status(job.source)["connector"]["state"] == "RUNNING"
    wait_phase(kube, job, "Paused", timeout=120)
    assert status(kube, job)["stage"] == "CDC"
    assert all_in(job.connect_status(job.source), "PAUSED")
    # The snapshot was not cut short: every row is there.
    kube.wait_for("200 documents", lambda: job.collection.count_documents({}) == 200, timeout=60)


# --- 4. The pause survives a Connect restart and an operator restart ----------


def test_pause_survives_connect_and_operator_restarts(
    kube: Kube, new_job: Any, operator: OperatorProcess, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=10)
    kube.apply(syncjob_for(job, paused=False), namespace=job.namespace)
    kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=90)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")

    e2e_pipeline.connect.restart()
    e2e_pipeline.connect.wait_state(job.source, "PAUSED", timeout_s=90)
    operator.restart()
    time.sleep(4)  # two resyncs of the restarted operator
    s = status(kube, job)
    assert s["phase"] == "Paused", s
    for name in (job.source, job.sink):
        assert all_in(job.connect_status(name), "PAUSED"), job.connect_status(name)
    job.sql(f"INSERT INTO {job.table} VALUES (11, 'late', 11)")
    time.sleep(3)
    assert job.collection.count_documents({}) == 10

    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")
    kube.wait_for("11 documents", lambda: job.collection.count_documents({}) == 11, timeout=60)


# --- 5. A connector resumed by hand is paused again ---------------------------


def test_connector_resumed_by_hand_is_paused_again(
    kube: Kube, new_job: Any, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=5)
    kube.apply(syncjob_for(job), namespace=job.namespace)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=90)
    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    e2e_pipeline.connect.request("PUT", f"/connectors/{job.source}/resume")
    kube.wait_for(
        "the Event",
        lambda: "ConnectorResumedOutsideOperator" in event_reasons(kube, job),
        timeout=30,
    )
    wait_phase(kube, job, "Paused")
    kube.wait_for("PAUSED again", lambda: all_in(job.connect_status(job.source), "PAUSED"))


# --- 6. Stop mode releases the tasks ------------------------------------------


def test_stop_mode_releases_tasks_and_resumes_cleanly(kube: Kube, new_job: Any) -> None:
    job: Job = new_job(rows=10)
    kube.apply(syncjob_for(job, pauseMode="Stop"), namespace=job.namespace)
    kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=90)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    patch_paused(kube, job, True)
    paused = wait_phase(kube, job, "Paused")
    for name in (job.source, job.sink):
        st = job.connect_status(name)
        assert st["connector"]["state"] == "STOPPED" and st["tasks"] == [], st
    assert all(c["state"] == "STOPPED" for c in paused["status"]["connectors"])
    job.sql(
        f"UPDATE {job.table} SET qty = -1 WHERE id = 1; INSERT INTO {job.table} VALUES (99, 'x', 9)"
    )
    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")
    want = job.source_rows()
    kube.wait_for("the sink to match", lambda: job.sink_rows() == want, timeout=90)


# --- failures: Connect down, erroring, hanging; a FAILED connector; bad names --


def test_connect_faults_give_conditions_and_the_operator_recovers(
    kube: Kube, new_job: Any, operator: OperatorProcess, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=5)
    upstream = e2e_pipeline.connect.url.rsplit(":", 1)
    with ThreadedFaultProxy("127.0.0.1", int(upstream[1])) as proxy:
        spec = syncjob_for(job)
        spec["spec"]["connect"]["url"] = proxy.url
        spec["spec"]["connect"]["requestTimeout"] = "2s"
        kube.apply(spec, namespace=job.namespace)
        kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=90)
        wait_phase(kube, job, "Running")

        for mode, kwargs, reason in (
            (Mode.HTTP_ERROR, {"status": 500}, "ConnectServerError"),
            (Mode.HANG, {}, "ConnectTimeout"),
            (Mode.DROP, {}, "ConnectConnectionDropped"),
            (Mode.REFUSE, {}, "ConnectUnreachable"),
            (Mode.HTTP_ERROR, {"status": 401}, "ConnectAuthFailed"),
        ):
            proxy.set_mode(mode, **kwargs)

            def named(reason: str = reason) -> bool:
                ready = condition({"status": status(kube, job)}, "Ready")
                return bool(ready and ready["status"] == "False" and ready["reason"] == reason)

            kube.wait_for(f"Ready=False/{reason}", named, timeout=40)
            # The last phase seen stays: the operator does not report what it has not seen.
            assert status(kube, job)["phase"] == "Running"
            proxy.set_mode(Mode.PASS)
            kube.wait_for(
                "Ready again",
                lambda: (
                    (condition({"status": status(kube, job)}, "Ready") or {}).get("status")
                    == "True"
                ),
                timeout=40,
            )
        assert operator.proc is not None and operator.proc.poll() is None, "the operator died"

        # A pause asked while Connect errors is carried out once it answers again.
        proxy.set_mode(Mode.HTTP_ERROR, status=503)
        patch_paused(kube, job, True)
        time.sleep(3)
        assert status(kube, job)["phase"] != "Paused"
        proxy.set_mode(Mode.PASS)
        wait_phase(kube, job, "Paused", timeout=60)


def test_unknown_connector_is_named_in_a_stalled_condition(kube: Kube, new_job: Any) -> None:
    job: Job = new_job(rows=1)
    spec = syncjob_for(job)
    spec["spec"]["connect"]["connectors"] = [job.source, "no-such-connector"]
    kube.apply(spec, namespace=job.namespace)

    def stalled() -> dict[str, Any] | None:
        c = condition({"status": status(kube, job)}, "Stalled")
        return c if c and c["status"] == "True" else None

    c = kube.wait_for("Stalled", stalled, timeout=60)
    assert c["reason"] == "ConnectorNotFound" and "no-such-connector" in c["message"]
    # Only half the job was ever seen: no phase rather than a guessed Running.
    assert "phase" not in status(kube, job)


def test_failed_connector_is_not_paused_but_can_be_stopped(
    kube: Kube, new_job: Any, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=3)
    # A sink told to take each document's _id from the record value, which has
    # none: its task FAILs for real on the first record (errors.tolerance none).
    config = e2e_pipeline.mongo_sink_config(
        topics=[f"{job.topic}.public.{job.table}"],
        database="e2e",
        collection=job.table + "_bad",
        key_field=None,
        **{
            "document.id.strategy": ID_STRATEGIES + "ProvidedInValueStrategy",
            "delete.on.null.values": "false",
        },
    )
    bad = job.sink + "-bad"
    e2e_pipeline.connect.put_connector(bad, config)

    def task_failed() -> bool:
        r = e2e_pipeline.connect.request("GET", f"/connectors/{bad}/status")
        return r.status_code == 200 and any(t["state"] == "FAILED" for t in r.json()["tasks"])

    kube.wait_for("a FAILED task", task_failed, timeout=90)
    spec = syncjob_for(job, paused=True)
    spec["spec"]["connect"]["connectors"] = [bad]
    kube.apply(spec, namespace=job.namespace)
    failed = wait_phase(kube, job, "Failed", timeout=60)
    stalled = condition(failed, "Stalled")
    assert stalled is not None and stalled["reason"] == "ConnectorFailed"
    assert "pauseMode: Stop" in stalled["message"]
    kube.kubectl(
        "patch",
        "syncjob",
        job.name,
        "-n",
        job.namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"pauseMode":"Stop"}}',
    )
    wait_phase(kube, job, "Paused", timeout=60)
    assert job.connect_status(bad)["connector"]["state"] == "STOPPED"
    e2e_pipeline.connect.delete_connector(bad)
