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

import time
from typing import Any

from tests.env import pipeline
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.helpers.jobs import (
    Job,
    all_in,
    event_reasons,
    patch_paused,
    status,
    syncjob_for,
    wait_phase,
)
from tests.helpers.kube import Kube, patch_spec
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition

ID_STRATEGIES = "com.mongodb.kafka.connect.sink.processor.id.strategy."


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
    patch_spec(kube, job.namespace, job.name, pauseMode="Stop")
    wait_phase(kube, job, "Paused", timeout=60)
    assert job.connect_status(bad)["connector"]["state"] == "STOPPED"
    e2e_pipeline.connect.delete_connector(bad)
