"""Real Debezium sync jobs for the e2e tests: a table, its source and sink connectors, its SyncJob.

Why this exists: every e2e test and benchmark makes its own job on the one
shared pipeline (its own table, topic prefix, slot and connector names), then
drives the SyncJob and compares the source table with the sink collection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from tests.env import connectors, pipeline
from tests.env.postgres import PostgresServer
from tests.helpers import kube as kube_helpers
from tests.helpers import status as status_helpers
from tests.helpers.kube import Kube
from tests.helpers.manifests import syncjob

Rows = dict[int, tuple[str, int]]


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
    heartbeats: bool = False,
) -> Job:
    """A table of ``rows`` rows and its two connectors, created; the SyncJob is the test's.

    ``heartbeats``: the source writes a heartbeat table of its own every
    second (``connectors.postgres_source``), so its slot's backlog falls to
    ~0 once it has caught up.
    """
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
    heartbeat_table = f"public.hb_{tag}" if heartbeats else None
    if heartbeat_table:
        job.sql(connectors.heartbeat_table_sql(heartbeat_table))
    p.connect.put_connector(
        job.source,
        p.postgres_source_config(
            topic_prefix=job.topic,
            tables=[f"public.{table}"],
            slot_name=job.slot,
            heartbeat_table=heartbeat_table,
            **overrides,
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
    return status_helpers.status(kube, job.namespace, job.name)


def wait_phase(kube: Kube, job: Job, phase: str, timeout: float = 90) -> dict[str, Any]:
    return dict(
        kube.wait_for(
            f"{job.name} {phase}",
            lambda: status_helpers.converged(kube, job.namespace, job.name, phase),
            timeout=timeout,
        )
    )


def patch_paused(kube: Kube, job: Job, paused: bool) -> None:
    kube_helpers.patch_paused(kube, job.namespace, job.name, paused)


def all_in(status: dict[str, Any], state: str) -> bool:
    """Whether a connector (Connect's status of it) and all its tasks are in ``state``."""
    states = [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
    return all(s == state for s in states) and (state == "STOPPED" or bool(status["tasks"]))


def event_reasons(kube: Kube, job: Job) -> list[str]:
    return [e["reason"] for e in kube.events(job.namespace, job.name)]
