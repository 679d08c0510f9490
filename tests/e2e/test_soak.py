"""Soak: many pause/resume cycles of the real pipeline through the operator, nothing lost.

Everything is real (tests/e2e/test_operator_connect.py says what): PostgreSQL,
the Debezium source, Kafka, the MongoDB sink into FerretDB, the control plane
and the operator process.  A writer inserts, updates and deletes rows of the
job's table the whole time, in transactions of one to three statements,
while the SyncJob is paused and resumed ``SOAK_CYCLES`` times (5 in
``make test``, 100 in ``make soak``).  Every cycle waits for the operator to
report ``Paused`` (every connector and task verified PAUSED) and ``Running``
again, and checks that a paused job delivers nothing.  At the end the sink
must equal the source row for row: the same count and the same checksum
over every (id, name, qty).

The counts are printed (pytest -s): cycles, rows inserted, updated and
deleted, and whether sink == source.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from tests.env import pipeline
from tests.helpers.jobs import Job, Rows, all_in, patch_paused, status, syncjob_for, wait_phase
from tests.helpers.kube import Kube
from tests.helpers.manifests import secret
from tests.helpers.sources import postgres_secret_data
from tests.helpers.status import condition

pytestmark = pytest.mark.e2e

CYCLES = int(os.environ.get("SOAK_CYCLES", "5"))
# Operations a second: well under what the FerretDB sink writes on a loaded
# 2-core machine, so the sink keeps up between pauses.
WRITE_RATE = 8.0


@dataclass
class Writer:
    """Inserts, updates and deletes rows of one table until stopped; counts what it did."""

    job: Job
    rng: random.Random
    next_id: int
    live: list[int]
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    transactions: int = 0
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-writer")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the writer failed: {self.error!r}") from self.error

    def _statement(self) -> tuple[str, tuple[Any, ...], str]:
        roll = self.rng.random()
        table = self.job.table
        if roll < 0.45 or len(self.live) < 20:
            self.next_id += 1
            i = self.next_id
            self.live.append(i)
            q = f"INSERT INTO {table} (id, name, qty) VALUES (%s, %s, %s)"
            return q, (i, f"new-{i}", self.rng.randint(0, 10_000)), "inserted"
        if roll < 0.8:
            i = self.rng.choice(self.live)
            q = f"UPDATE {table} SET name = %s, qty = qty + %s WHERE id = %s"
            return q, (f"upd-{self.transactions}", self.rng.randint(1, 9), i), "updated"
        i = self.live.pop(self.rng.randrange(len(self.live)))
        return f"DELETE FROM {table} WHERE id = %s", (i,), "deleted"

    def _run(self) -> None:
        try:
            with psycopg.connect(self.job.pg.dsn(), autocommit=True) as conn:
                while not self._stop.is_set():
                    size = self.rng.choice((1, 1, 1, 2, 3))
                    statements = [self._statement() for _ in range(size)]
                    with conn.transaction():
                        for q, args, _ in statements:
                            conn.execute(q, args)
                    for *_, kind in statements:
                        setattr(self, kind, getattr(self, kind) + 1)
                    self.transactions += 1
                    self._stop.wait(1 / WRITE_RATE)
        except BaseException as exc:  # reported by stop()
            self.error = exc


def checksum(rows: Rows) -> str:
    digest = hashlib.sha256()
    for i in sorted(rows):
        name, qty = rows[i]
        digest.update(f"{i}|{name}|{qty}\n".encode())
    return digest.hexdigest()[:16]


# A cycle took up to 12 s on a loaded 2-core machine (about 5 s idle).
@pytest.mark.timeout(600 + 30 * CYCLES)
def test_pause_resume_cycles_under_writes_lose_nothing(
    kube: Kube, new_job: Any, e2e_pipeline: pipeline.Pipeline
) -> None:
    rows = 50
    job: Job = new_job(rows=rows)
    kube.apply(secret(f"{job.name}-db", postgres_secret_data(job.pg)), namespace=job.namespace)
    kube.apply(
        syncjob_for(
            job,
            source={
                "type": "postgresql",
                "connectionSecretRef": {"name": f"{job.name}-db"},
                "slotName": job.slot,
            },
            kafka={
                "bootstrapServers": e2e_pipeline.kafka.bootstrap,
                "topics": [f"{job.topic}.public.{job.table}"],
            },
        ),
        namespace=job.namespace,
    )
    kube.wait_for(
        f"{rows} documents", lambda: job.collection.count_documents({}) == rows, timeout=120
    )
    kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
    wait_phase(kube, job, "Running")

    seed = random.randrange(1 << 30)
    writer = Writer(job, random.Random(seed), next_id=rows, live=list(range(1, rows + 1)))
    writer.start()
    rng = random.Random(seed + 1)
    started = time.monotonic()
    pause_s: list[float] = []
    resume_s: list[float] = []
    try:
        for cycle in range(CYCLES):
            t0 = time.monotonic()
            patch_paused(kube, job, True)
            paused = wait_phase(kube, job, "Paused", timeout=120)
            pause_s.append(time.monotonic() - t0)
            connectors = paused["status"]["connectors"]
            assert all(c["state"] == "PAUSED" for c in connectors), (cycle, paused)
            for name in (job.source, job.sink):
                assert all_in(job.connect_status(name), "PAUSED"), (cycle, name)
            before = job.sink_rows()
            time.sleep(rng.uniform(0.5, 2.0))  # the writer goes on; nothing may reach the sink
            assert job.sink_rows() == before, f"cycle {cycle}: the sink changed while paused"

            t0 = time.monotonic()
            patch_paused(kube, job, False)
            wait_phase(kube, job, "Running", timeout=120)
            resume_s.append(time.monotonic() - t0)
            time.sleep(rng.uniform(0.5, 3.0))
            if (cycle + 1) % 10 == 0:
                print(f"[soak] {cycle + 1} cycles, {time.monotonic() - started:.0f}s", flush=True)
    finally:
        writer.stop()
    soaked = time.monotonic() - started

    want = job.source_rows()
    kube.wait_for("the sink to equal the source", lambda: job.sink_rows() == want, timeout=300)
    got = job.sink_rows()
    s = status(kube, job)
    print(
        f"\n[soak] {CYCLES} pause/resume cycles in {soaked:.0f}s (seed {seed}); writer: "
        f"{writer.transactions} transactions, {writer.inserted} inserted, {writer.updated} "
        f"updated, {writer.deleted} deleted; source {len(want)} rows {checksum(want)}, sink "
        f"{len(got)} rows {checksum(got)}: sink == source {got == want}"
    )
    print(
        f"[soak] pause (patch -> Paused) max {max(pause_s):.2f}s, resume (patch -> Running) "
        f"max {max(resume_s):.2f}s"
    )
    assert len(got) == len(want) and checksum(got) == checksum(want)
    assert writer.inserted and writer.updated and writer.deleted
    assert s["phase"] == "Running"
    for type_ in ("Stalled", "RetentionExceeded"):
        c = condition({"status": s}, type_)
        assert c is None or c["status"] == "False", c
