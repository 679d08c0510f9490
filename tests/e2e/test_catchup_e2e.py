"""After a resume, end to end: how far behind the job is, when it has caught up, restarts.

Everything is real (tests/e2e/test_operator_connect.py says what): a real
Debezium PostgreSQL slot whose WAL past ``confirmed_flush_lsn`` is the
backlog, the real MongoDB sink's consumer group whose lag is the sink lag,
the operator's real metrics, and a task made to FAIL for real by
terminating its walsender (with ``errors.max.retries=0`` Debezium does not
retry by itself: the task FAILs, and a restart reconnects it).

The source's heartbeats write a table of its own (``new_job(heartbeats=True)``),
so the slot's backlog really falls to ~0 once the job has caught up.  What
the catch-up test measures is printed (pytest -s): the estimates against the
real catch-up time, and the status writes per minute.
"""

from __future__ import annotations

import time
from typing import Any

from tests.env import pipeline
from tests.helpers import catchup
from tests.helpers.jobs import Job, event_reasons, patch_paused, status, syncjob_for, wait_phase
from tests.helpers.kube import Kube
from tests.helpers.manifests import secret
from tests.helpers.operator import OperatorProcess
from tests.helpers.sources import postgres_secret_data
from tests.helpers.status import condition


def topic(job: Job) -> str:
    return f"{job.topic}.public.{job.table}"


def catch_up_spec(job: Job, p: pipeline.Pipeline, **extra: Any) -> dict[str, Any]:
    return syncjob_for(
        job,
        source={
            "type": "postgresql",
            "connectionSecretRef": {"name": f"{job.name}-db"},
            "slotName": job.slot,
        },
        kafka={"bootstrapServers": p.kafka.bootstrap, "topics": [topic(job)]},
        **extra,
    )


def caught_up(kube: Kube, job: Job) -> dict[str, Any] | None:
    return condition({"status": status(kube, job)}, "CaughtUp")


# The byte threshold of the e2e jobs: well under the WAL of the rows written
# while paused (1500 rows are ~200 KiB), well over a second of heartbeats.
THRESHOLD_BYTES = 64 * 1024


def test_resume_reports_the_backlog_until_caught_up(
    kube: Kube, new_job: Any, operator: OperatorProcess, e2e_pipeline: pipeline.Pipeline
) -> None:
    # Heartbeats write a captured table every second: without them the slot's
    # confirmed_flush_lsn stays at the last captured change, behind every
    # other write to the server (~130 KiB here), and the backlog never falls.
    job: Job = new_job(rows=10, heartbeats=True)
    kube.apply(secret(f"{job.name}-db", postgres_secret_data(job.pg)), namespace=job.namespace)
    kube.apply(
        catch_up_spec(
            job, e2e_pipeline, catchUp={"thresholdBytes": THRESHOLD_BYTES, "thresholdRecords": 0}
        ),
        namespace=job.namespace,
    )
    kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=120)
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    kube.wait_for(
        "caught up while running, both figures read",
        lambda: (
            (c := caught_up(kube, job)) is not None
            and c["status"] == "True"
            and (status(kube, job).get("cdc") or {}).get("sinkLag") is not None
        ),
        timeout=180,
    )
    assert status(kube, job)["cdc"]["backlogBytes"] <= THRESHOLD_BYTES

    patch_paused(kube, job, True)
    wait_phase(kube, job, "Paused")
    # A few minutes of catch-up for the MongoDB sink on a loaded machine
    # (FerretDB writes a few hundred documents a minute then).
    rows = 1500
    for start in range(0, rows, 500):
        job.sql(
            f"INSERT INTO {job.table} SELECT g, 'late-' || g, g FROM "
            f"generate_series({1000 + start}, {1000 + start + 499}) g"
        )

    def backlog_above() -> dict[str, Any] | None:
        cdc: dict[str, Any] = status(kube, job).get("cdc") or {}
        return cdc if (cdc.get("backlogBytes") or 0) > THRESHOLD_BYTES else None

    paused = kube.wait_for(
        "the paused job's backlog above the threshold", backlog_above, timeout=90
    )
    assert job.collection.count_documents({}) == 10  # nothing moves while paused

    writes = catchup.Writes(kube, job.namespace, job.name).start()
    patch_paused(kube, job, False)
    try:
        seen = catchup.watch_catch_up(
            kube, writes, metrics_url=operator.metrics_url, resumed_at=time.monotonic()
        )
    finally:
        writes.stop()
    print(f"\n[catch-up pg] {rows} rows; backlog while paused {paused['backlogBytes']} B")
    print(seen.report("catch-up pg"))

    final = seen.final
    c = condition({"status": final}, "CaughtUp")
    assert c is not None and c["status"] == "True", (c, seen.seen)
    behind = [s for s in seen.seen if s.get("catchingUpSince")]
    assert behind, f"no catch-up was reported: {seen.seen}"
    assert any((s.get("sinkLag") or 0) > 0 for s in behind), behind
    assert final["cdc"]["backlogBytes"] <= THRESHOLD_BYTES, final["cdc"]
    assert final["cdc"]["sinkLag"] == 0
    assert final["cdc"].get("catchingUpSince") is None
    assert "CaughtUp" in event_reasons(kube, job)
    assert job.sink_rows() == job.source_rows()
    kube.wait_for(
        "the lag metric at 0",
        lambda: catchup.lag_metric(operator.metrics_url, job.namespace, job.name) == 0,
        timeout=30,
    )
    assert seen.lags and max(seen.lags) > 0, seen.lags
    # Bounded: catchup.MIN_REWRITE (15 s) between figure rewrites, plus the flips.
    minutes = max(seen.took_s / 60, 1 / 60)
    assert seen.writes <= 6 + 4 * minutes, (seen.writes, seen.took_s)


def test_failed_task_is_restarted_then_stalled_past_the_maximum(
    kube: Kube, new_job: Any, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=5)
    # Debezium would retry a lost connection by itself; without retries the task FAILs.
    e2e_pipeline.connect.put_connector(
        job.source,
        e2e_pipeline.postgres_source_config(
            topic_prefix=job.topic,
            tables=[f"public.{job.table}"],
            slot_name=job.slot,
            **{"errors.max.retries": "0"},
        ),
    )
    max_restarts = 2
    kube.apply(
        syncjob_for(
            job, autoRestart={"enabled": True, "maxRestarts": max_restarts, "backoff": "1s"}
        ),
        namespace=job.namespace,
    )
    kube.wait_for("5 documents", lambda: job.collection.count_documents({}) == 5, timeout=120)
    wait_phase(kube, job, "Running")

    def walsender() -> int | None:
        with job.pg.connect() as conn:
            row = conn.execute(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (job.slot,)
            ).fetchone()
        return int(row[0]) if row and row[0] else None

    def kill_walsender() -> None:
        pid = kube.wait_for("the slot's walsender", walsender, timeout=60)
        job.sql(f"SELECT pg_terminate_backend({pid})")

    def restarts() -> int:
        return int((status(kube, job).get("restarts") or {}).get("count") or 0)

    kill_walsender()
    kube.wait_for("a restart in status", lambda: restarts() >= 1, timeout=120)
    wait_phase(kube, job, "Running", timeout=120)
    s = status(kube, job)
    assert s["restarts"]["lastRestartTime"]
    assert "ConnectorRestarted" in event_reasons(kube, job)
    job.sql(f"INSERT INTO {job.table} VALUES (100, 'after-restart', 1)")
    kube.wait_for(
        "the row after the restart", lambda: job.sink_rows() == job.source_rows(), timeout=90
    )

    def stalled() -> dict[str, Any] | None:
        c = condition({"status": status(kube, job)}, "Stalled")
        if c and c["status"] == "True":
            return c
        if (pid := walsender()) is not None:  # recovered again: fail it again
            job.sql(f"SELECT pg_terminate_backend({pid})")
        return None

    c = kube.wait_for("Stalled past the maximum", stalled, timeout=240)
    assert c["reason"] == "RestartLimitReached", c
    assert f"{max_restarts} automatic restarts did not help" in c["message"]
    assert restarts() == max_restarts
    print(f"\n[restart] {max_restarts} restarts, then Stalled: {c['message'][:200]}")
