"""The operator pausing, resuming and watching the retention of real Debezium MariaDB jobs.

Everything is real: the control plane, the operator process, MariaDB
(Debian), the Debezium MariaDB source, Kafka, Connect, the MongoDB sink and
FerretDB (tests/env/README-mariadb.md has what this pipeline does on its
own).  Each test has its own MariaDB server, so a purge of one test's
binlogs touches no other job; the Kafka/Connect pipeline is the shared one.

What is shown here, through the SyncJob only:

* snapshot then CDC; a pause holds the writes made while paused, the resume
  delivers them all (the sink equals the source);
* the deadline counts from the committed position's source time when the
  connector was behind (its binlog events an hour old: ``SET timestamp``);
* a purge of the binlogs a paused job needs is reported RetentionExceeded
  before anyone resumes, once the task no longer holds a binlog connection
  (its task restarted while paused: Connect starts it only at the resume);
* the same purge while the paused task still reads the binlog is a risk to
  act on now, not a loss, and the resume indeed delivers every row;
* after a resume, the binlog backlog and the sink lag are reported until the
  job has caught up (CaughtUp False, then True; the lag metric back to 0).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.env import debezium_mariadb, pipeline
from tests.env.debezium_mariadb import MariaDBSource
from tests.helpers import catchup
from tests.helpers.jobs import all_in
from tests.helpers.kube import Kube
from tests.helpers.kube import patch_paused as patch_job_paused
from tests.helpers.manifests import secret, syncjob
from tests.helpers.operator import OperatorProcess
from tests.helpers.sources import mariadb_secret_data
from tests.helpers.status import condition, converged
from tests.helpers.status import status as job_status

pytestmark = pytest.mark.e2e

Rows = dict[int, tuple[str, int]]
EXPIRE_S = 86400


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class MariaJob:
    """One job: its own MariaDB server and table, a Debezium source, a Mongo sink, a SyncJob."""

    name: str
    db: str
    source: str
    sink: str
    namespace: str
    src: MariaDBSource
    p: pipeline.Pipeline
    mongo: Any

    @property
    def table(self) -> str:
        return f"{self.db}.items"

    @property
    def collection(self) -> Any:
        return self.mongo[self.db]["items"]

    def sql(self, *statements: str, hours_old: int = 0) -> None:
        """Run ``statements``; ``hours_old``: their binlog events dated that many hours back."""
        with self.src.server.connect() as conn, conn.cursor() as cur:
            if hours_old:
                cur.execute(f"SET timestamp = UNIX_TIMESTAMP() - {hours_old * 3600:d}")
            for statement in statements:
                cur.execute(statement)

    def insert(self, ids: range, **kw: int) -> None:
        self.sql(*(f"INSERT INTO {self.table} VALUES ({i}, 'new-{i}', {i})" for i in ids), **kw)

    def source_rows(self) -> Rows:
        with self.src.server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, name, qty FROM {self.table}")
            return {int(r[0]): (str(r[1]), int(r[2])) for r in cur.fetchall()}

    def sink_rows(self) -> Rows:
        return {int(d["_id"]): (d["name"], int(d["qty"])) for d in self.collection.find({})}

    def offset(self) -> dict[str, Any]:
        """The source connector's committed offset (one partition: ``{"server": db}``)."""
        entries = self.p.connect.offsets(self.source).get("offsets") or []
        assert len(entries) == 1, entries
        return dict(entries[0]["offset"])

    def status(self, kube: Kube) -> dict[str, Any]:
        return job_status(kube, self.namespace, self.name)

    def wait_phase(self, kube: Kube, phase: str, timeout: float = 90) -> dict[str, Any]:
        return dict(
            kube.wait_for(
                f"{self.name} {phase}",
                lambda: converged(kube, self.namespace, self.name, phase),
                timeout=timeout,
            )
        )

    def wait_synced(self, kube: Kube, *, timeout: float = 90) -> Rows:
        want = self.source_rows()
        kube.wait_for(
            f"{self.name}'s sink to equal its source",
            lambda: self.sink_rows() == want,
            timeout=timeout,
        )
        return want

    def wait_condition(
        self, kube: Kube, type_: str, status: str, reason: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            s = self.status(kube)
            c = condition({"status": s}, type_)
            ok = c is not None and c["status"] == status and reason in (None, c["reason"])
            return s if ok else None

        return dict(kube.wait_for(f"{type_}={status} {reason or ''}", matches, timeout=timeout))

    def event_reasons(self, kube: Kube) -> list[str]:
        return [e["reason"] for e in kube.events(self.namespace, self.name)]


@pytest.fixture
def new_mariadb_job(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    mongo: Any,
    namespace: str,
) -> Iterator[Callable[..., MariaJob]]:
    """``new_mariadb_job(rows=10, **spec)``: a MariaDB, a table, connectors and the SyncJob."""
    made: list[MariaJob] = []
    workdirs: list[Path] = []

    def factory(rows: int = 10, **spec: Any) -> MariaJob:
        tag = uuid.uuid4().hex[:6]
        # Under /tmp, not pytest's directory: mariadbd (user mysql) opens files
        # there by absolute path while it runs, and every pytest session of
        # another agent makes /tmp/pytest-of-root private again.
        workdir = Path(tempfile.mkdtemp(prefix=f"mariadb-e2e-{tag}-", dir="/tmp"))
        workdirs.append(workdir)
        src = debezium_mariadb.start_source(
            workdir, settings={"binlog_expire_logs_seconds": EXPIRE_S}
        )
        job = MariaJob(
            name=f"maria-{tag}",
            db=f"m{tag}",
            source=f"msrc-{tag}",
            sink=f"msink-{tag}",
            namespace=namespace,
            src=src,
            p=e2e_pipeline,
            mongo=mongo,
        )
        made.append(job)
        job.sql(
            f"CREATE DATABASE {job.db}",
            f"CREATE TABLE {job.table} (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT)",
        )
        job.insert(range(1, rows + 1))
        p = e2e_pipeline
        p.connect.put_connector(
            job.sink,
            p.mongo_sink_config(
                topics=[f"{job.db}.{job.table}"], database=job.db, collection="items"
            ),
        )
        p.connect.put_connector(
            job.source,
            src.source_config(
                kafka_bootstrap=p.kafka.bootstrap,
                topic_prefix=job.db,
                tables=[job.table],
                server_id=5500 + len(made),
            ),
        )
        # The Secret holds the connector's own account: the operator then sees
        # that account's binlog readers (the task's own connection).
        kube.apply(
            secret(
                f"{job.name}-db",
                mariadb_secret_data(src.server, user=src.user, password=src.password),
            ),
            namespace=namespace,
        )
        kube.apply(
            syncjob(
                job.name,
                {
                    "connect": {"url": p.connect.url, "connectors": [job.source, job.sink]},
                    "source": {
                        "type": "mariadb",
                        "connectionSecretRef": {"name": f"{job.name}-db"},
                    },
                    **spec,
                },
            ),
            namespace=namespace,
        )
        return job

    yield factory
    for job in made:
        kube.kubectl(
            "delete", "syncjob", job.name, "-n", job.namespace, "--wait=false", check=False
        )
        for name in (job.source, job.sink):
            e2e_pipeline.connect.delete_connector(name)
        job.src.stop()
    for workdir in workdirs:
        shutil.rmtree(workdir, ignore_errors=True)


def cdc_with_rows(kube: Kube, job: MariaJob, rows: int) -> None:
    kube.wait_for("stage CDC", lambda: job.status(kube).get("stage") == "CDC", timeout=120)
    kube.wait_for(
        f"{rows} documents", lambda: job.collection.count_documents({}) == rows, timeout=90
    )
    job.wait_phase(kube, "Running")


# --- (a) snapshot, CDC, pause, resume -----------------------------------------


def test_snapshot_then_cdc_pause_holds_writes_and_resume_delivers_them(
    kube: Kube, new_mariadb_job: Callable[..., MariaJob]
) -> None:
    job = new_mariadb_job(rows=40)
    kube.wait_for(
        "stage Snapshot or CDC",
        lambda: job.status(kube).get("stage") in ("Snapshot", "CDC"),
        timeout=90,
    )
    cdc_with_rows(kube, job, 40)
    assert job.sink_rows() == job.source_rows()
    assert "StageCDC" in job.event_reasons(kube)

    job.sql(
        f"INSERT INTO {job.table} VALUES (1001, 'cdc', 1)",
        f"UPDATE {job.table} SET qty = -5, name = 'updated' WHERE id = 5",
        f"DELETE FROM {job.table} WHERE id IN (7, 8, 9)",
    )
    job.wait_synced(kube)

    patch_job_paused(kube, job.namespace, job.name, True)
    paused = job.wait_phase(kube, "Paused")
    for name in (job.source, job.sink):
        assert all_in(job.p.connect.status(name), "PAUSED"), job.p.connect.status(name)
    assert condition(paused, "Paused")["status"] == "True"  # type: ignore[index]

    before = job.sink_rows()
    job.insert(range(2001, 2021))
    job.sql(
        f"UPDATE {job.table} SET qty = qty + 1000 WHERE id <= 10",
        f"DELETE FROM {job.table} WHERE id BETWEEN 21 AND 25",
    )
    # The binlog position is read and checked against the server while paused.
    s = kube.wait_for(
        "the retention read with the committed position",
        lambda: (st := job.status(kube)).get("retention", {}).get("positionTime") and st,
        timeout=60,
    )
    time.sleep(4)  # a paused source must not deliver: heartbeats and flushes run every second
    assert job.sink_rows() == before, "changes reached the sink while paused"

    retention = s["retention"]
    assert retention["basis"] == "mariadb:binlog_expire_logs_seconds", retention
    assert retention["expireSeconds"] == EXPIRE_S
    # Caught up at the pause, yet its last event came before the pause: it anchors.
    position_time = when(retention["positionTime"])
    assert position_time <= when(s["pausedAt"])
    assert when(s["retentionDeadline"]) == position_time + timedelta(seconds=EXPIRE_S)
    assert "the oldest binlog, binlog.000001, starts after GTIDs none" in retention["message"]
    at_risk = condition({"status": s}, "RetentionAtRisk")
    assert at_risk is not None and (at_risk["status"], at_risk["reason"]) == (
        "False",
        "DeadlineFar",
    )

    patch_job_paused(kube, job.namespace, job.name, False)
    job.wait_phase(kube, "Running")
    want = job.wait_synced(kube)
    assert len(want) == 40 + 1 - 3 + 20 - 5
    assert job.status(kube).get("retention") is None  # only a paused job has a deadline


# --- (c) a connector behind at the pause: the deadline comes earlier ----------


def test_a_connector_behind_at_the_pause_gets_an_earlier_deadline(
    kube: Kube, new_mariadb_job: Callable[..., MariaJob]
) -> None:
    job = new_mariadb_job(rows=5)
    # Two hours, so an hour earlier is a move of the deadline status writes
    # even if the operator's first look after the pause had an older offset
    # (status keeps a deadline that moved by less than 5% of the time left).
    expire = timedelta(hours=2)
    job.src.server.set({"binlog_expire_logs_seconds": int(expire.total_seconds())})
    cdc_with_rows(kube, job, 5)
    # Events dated an hour back: what a connector an hour behind has committed.
    job.insert(range(101, 106), hours_old=1)
    kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=60)
    hour_ago = time.time() - 3600
    offset = kube.wait_for(
        "the committed offset of the old events",
        lambda: (o := job.offset())["gtids"] != "" and abs(o["ts_sec"] - hour_ago) < 300 and o,
        timeout=60,
    )
    assert offset["ts_sec"] < hour_ago + 300  # SET timestamp really moved ts_sec

    patch_job_paused(kube, job.namespace, job.name, True)
    job.wait_phase(kube, "Paused")
    s = kube.wait_for(
        "a deadline anchored at the position",
        lambda: (
            (st := job.status(kube)).get("retention", {}).get("anchor") == "position"
            and abs(when(st["retention"]["positionTime"]).timestamp() - offset["ts_sec"]) < 1
            and st
        ),
        timeout=60,
    )
    paused_at, deadline = when(s["pausedAt"]), when(s["retentionDeadline"])
    assert s["retention"]["expireSeconds"] == 7200
    assert deadline == when(s["retention"]["positionTime"]) + expire
    assert deadline <= paused_at + expire - timedelta(minutes=55)
    assert "before the pause" in s["retention"]["message"]
    # Within warnBefore (6h by default): the lag made it near.
    at_risk = condition({"status": s}, "RetentionAtRisk")
    assert at_risk is not None and (at_risk["status"], at_risk["reason"]) == (
        "True",
        "DeadlineNear",
    )


# --- (b) a purge while paused -------------------------------------------------


def purge_all_but_the_newest(job: MariaJob) -> debezium_mariadb.Purge:
    purge = debezium_mariadb.rotate_and_purge(job.src.server, rotations=2)
    assert purge.after == [purge.purged_to], purge
    return purge


def assert_reported_lost(kube: Kube, job: MariaJob, committed: dict[str, Any]) -> None:
    """RetentionExceeded while still paused, naming what the server no longer has."""
    s = job.wait_condition(kube, "RetentionExceeded", "True", "ChangeLogPurged")
    assert s["phase"] == "Paused"  # before anyone resumes
    assert s["retention"]["basis"] == "mariadb:binlog_purged" and s["retention"]["lost"]
    exceeded = condition({"status": s}, "RetentionExceeded")
    assert exceeded is not None
    assert f"the job's position {committed['gtids']} still needs domain 0" in exceeded["message"]
    assert condition({"status": s}, "Ready")["reason"] == "RetentionExceeded"  # type: ignore[index]
    kube.wait_for(
        "a ChangeLogPurged Event", lambda: "ChangeLogPurged" in job.event_reasons(kube), timeout=30
    )


def test_a_purge_while_the_paused_task_still_reads_is_a_risk_and_the_resume_delivers(
    kube: Kube, new_mariadb_job: Callable[..., MariaJob]
) -> None:
    """A paused task keeps its binlog connection and reads on into memory: nothing is lost yet."""
    job = new_mariadb_job(rows=10)
    cdc_with_rows(kube, job, 10)
    patch_job_paused(kube, job.namespace, job.name, True)
    job.wait_phase(kube, "Paused")
    committed = job.offset()
    job.insert(range(11, 31))
    assert [u for _, u in debezium_mariadb.binlog_readers(job.src.server)] == [job.src.user]
    purge = purge_all_but_the_newest(job)
    assert committed["file"] not in purge.after

    s = job.wait_condition(kube, "RetentionAtRisk", "True", "BinlogHeldByReader")
    assert s["retention"]["basis"] == "mariadb:binlog_purged" and not s["retention"].get("lost")
    assert condition({"status": s}, "RetentionExceeded")["status"] == "False"  # type: ignore[index]
    assert "resume now" in condition({"status": s}, "RetentionAtRisk")["message"]  # type: ignore[index]
    assert job.collection.count_documents({}) == 10

    patch_job_paused(kube, job.namespace, job.name, False)
    job.wait_phase(kube, "Running")
    want = job.wait_synced(kube, timeout=60)
    assert len(want) == 30
    assert condition({"status": job.status(kube)}, "RetentionExceeded")["status"] == "False"  # type: ignore[index]


def test_a_purge_after_a_task_restart_while_paused_is_reported_lost_before_resume(
    kube: Kube, new_mariadb_job: Callable[..., MariaJob]
) -> None:
    """A paused task that restarts (a rebalance, a worker restart) starts only at the resume.

    Connect waits for the resume before it calls a paused task's start(), so
    after the restart nothing reads the binlog for the job: what a worker
    restart does (tests/e2e/test_mariadb_pipeline.py), without restarting
    the shared worker.
    """
    job = new_mariadb_job(rows=10)
    cdc_with_rows(kube, job, 10)
    patch_job_paused(kube, job.namespace, job.name, True)
    job.wait_phase(kube, "Paused")
    r = job.p.connect.request(
        "POST", f"/connectors/{job.source}/restart?includeTasks=true&onlyFailed=false"
    )
    assert r.status_code in (200, 202, 204), r.text
    committed = job.offset()
    job.insert(range(11, 31))
    # The restarted task's old Binlog Dump thread on the server lingers until
    # the first event it cannot send: keep writing until it is gone.
    more = iter(range(31, 10_000))

    def no_reader_left() -> bool:
        if not debezium_mariadb.binlog_readers(job.src.server):
            return True
        n = next(more)
        job.insert(range(n, n + 1))
        return False

    kube.wait_for("no binlog reader left", no_reader_left, timeout=120, interval=2)
    assert all_in(job.p.connect.status(job.source), "PAUSED")
    purge = purge_all_but_the_newest(job)
    assert committed["file"] not in purge.after
    assert_reported_lost(kube, job, committed)


# --- (d) the catch-up after a resume ---------------------------------------------

# Over the binlog of a few single-row transactions, well under what 1000 rows
# written while paused leave behind.
THRESHOLD_BYTES = 16 * 1024


def test_resume_reports_the_binlog_backlog_until_caught_up(
    kube: Kube,
    new_mariadb_job: Callable[..., MariaJob],
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
) -> None:
    job = new_mariadb_job(rows=10)
    topic = f"{job.db}.{job.table}"
    kube.apply(
        syncjob(
            job.name,
            {
                "connect": {"url": job.p.connect.url, "connectors": [job.source, job.sink]},
                "source": {"type": "mariadb", "connectionSecretRef": {"name": f"{job.name}-db"}},
                "kafka": {"bootstrapServers": e2e_pipeline.kafka.bootstrap, "topics": [topic]},
                "catchUp": {"thresholdBytes": THRESHOLD_BYTES, "thresholdRecords": 0},
            },
        ),
        namespace=job.namespace,
    )
    cdc_with_rows(kube, job, 10)
    job.wait_condition(kube, "CaughtUp", "True", "CaughtUp", timeout=120)

    patch_job_paused(kube, job.namespace, job.name, True)
    job.wait_phase(kube, "Paused")
    rows = 1000
    # One transaction per row, as an application writes: the committed
    # position after the catch-up is then at most one small transaction back.
    pad = "x" * 40
    job.sql(
        *(
            f"INSERT INTO {job.table} VALUES ({i}, 'late-{i}-{pad}', {i})"
            for i in range(1000, 1000 + rows)
        )
    )

    def backlog_above() -> dict[str, Any] | None:
        cdc: dict[str, Any] = job.status(kube).get("cdc") or {}
        return cdc if (cdc.get("backlogBytes") or 0) > THRESHOLD_BYTES else None

    paused = kube.wait_for(
        "the paused job's backlog above the threshold", backlog_above, timeout=90
    )
    caught = condition({"status": job.status(kube)}, "CaughtUp")
    assert caught is not None and caught["status"] == "False", caught
    assert job.collection.count_documents({}) == 10  # nothing moves while paused

    writes = catchup.Writes(kube, job.namespace, job.name).start()
    patch_job_paused(kube, job.namespace, job.name, False)
    try:
        seen = catchup.watch_catch_up(
            kube, writes, metrics_url=operator.metrics_url, resumed_at=time.monotonic()
        )
    finally:
        writes.stop()
    print(f"\n[catch-up mariadb] {rows} rows; binlog backlog while paused {paused['backlogBytes']}")
    print(seen.report("catch-up mariadb"))

    behind = [s for s in seen.seen if s.get("catchingUpSince")]
    assert behind, f"no catch-up was reported: {seen.seen}"
    final = seen.final["cdc"]
    assert final["backlogBytes"] <= THRESHOLD_BYTES and final["sinkLag"] == 0, final
    assert final.get("catchingUpSince") is None
    assert "CaughtUp" in job.event_reasons(kube)
    assert job.wait_synced(kube, timeout=30)
    kube.wait_for(
        "the lag metric at 0",
        lambda: catchup.lag_metric(operator.metrics_url, job.namespace, job.name) == 0,
        timeout=30,
    )
    assert seen.lags and max(seen.lags) > 0, seen.lags
    minutes = max(seen.took_s / 60, 1 / 60)
    assert seen.writes <= 6 + 4 * minutes, (seen.writes, seen.took_s)
