"""Proves the real pipeline works before any operator test relies on it.

Why this exists: the operator's e2e tests pause, resume and classify real
Debezium connectors; if the pipeline under them were broken, they would fail
for reasons that have nothing to do with the operator.  These tests show, with
real PostgreSQL -> Debezium -> Kafka -> MongoDB sink -> FerretDB:

* the initial snapshot and then CDC arrive, and the sink mirrors the source
  exactly after INSERT/UPDATE/DELETE;
* the committed source offsets show the stages the operator reads
  (docs/design.md: ``snapshot``/``snapshot_completed`` while
  snapshotting, neither once streaming);
* a pause survives a Connect worker restart (docs/design.md: the target state
  is in the config topic);
* the fault proxy does what it says in front of the real Connect REST API.

Observed offsets, start times and RSS are written to JSON files in the state
directory (tests/env/README-pipeline.md records a run).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.env import connectors, pipeline
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.env.postgres import PostgresServer
from tests.helpers import polling

pytestmark = pytest.mark.e2e

T = TypeVar("T")
Rows = dict[int, tuple[str, int]]


def stage_of(offsets: Any) -> str:
    """docs/design.md's stage rule, for one-partition Debezium source offsets."""
    entries = offsets.get("offsets") or []
    if not entries:
        return "Pending"
    offset = entries[0]["offset"]
    if "snapshot" in offset and not offset.get("snapshot_completed", False):
        return "Snapshot"
    if offset.get("snapshot") is True:  # pre-3.0.2 format
        return "Snapshot"
    return "CDC"


def source_rows(pg: PostgresServer, table: str) -> Rows:
    with pg.connect() as conn:
        rows = conn.execute(f"SELECT id, name, qty FROM {table}").fetchall()
    return {int(r[0]): (str(r[1]), int(r[2])) for r in rows}  # type: ignore[call-overload]


def sink_rows(col: Any) -> Rows:
    return {int(d["_id"]): (d["name"], int(d["qty"])) for d in col.find({})}


def create_table(pg: PostgresServer, table: str, n: int) -> None:
    with pg.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, qty int)")
        conn.execute(
            f"INSERT INTO {table} SELECT g, 'row-' || g, g FROM generate_series(1, %s) g", [n]
        )


def test_snapshot_then_cdc_mirrors_source(
    e2e_pipeline: pipeline.Pipeline, e2e_postgres: PostgresServer, mongo: Any
) -> None:
    p, pg = e2e_pipeline, e2e_postgres
    n = 1500
    table = "public.smoke_items"
    create_table(pg, table, n)
    col = mongo["smoke"]["items"]

    sink = p.mongo_sink_config(
        topics=["smoke.public.smoke_items"], database="smoke", collection="items"
    )
    p.connect.put_connector("smoke-sink", sink)
    # ~1500 x 4 ms: a snapshot that lasts long enough to be seen in the offsets.
    source = p.postgres_source_config(
        topic_prefix="smoke",
        tables=[table],
        slot_name="smoke_slot",
        **connectors.slow_snapshot_overrides(table, sleep_per_row_s=0.004),
    )
    t0 = time.monotonic()
    p.connect.put_connector("smoke-source", source)

    seen: list[dict[str, Any]] = []

    def observe() -> bool:
        offsets = p.connect.offsets("smoke-source")
        stage, docs = stage_of(offsets), col.count_documents({})
        if not seen or seen[-1]["offsets"] != offsets:
            t = round(time.monotonic() - t0, 1)
            seen.append({"t_s": t, "stage": stage, "sink_docs": docs, "offsets": offsets})
        return stage == "CDC" and docs >= n

    polling.wait_for("snapshot to finish and reach the sink", observe, timeout=120, interval=0.3)
    stages = [s["stage"] for s in seen]
    assert "Snapshot" in stages, seen
    assert stages[-1] == "CDC", seen
    assert sink_rows(col) == source_rows(pg, table)

    with pg.connect() as conn:
        conn.execute(f"INSERT INTO {table} VALUES (100001, 'inserted', 1)")
        conn.execute(f"UPDATE {table} SET qty = -5, name = 'updated' WHERE id = 5")
        conn.execute(f"DELETE FROM {table} WHERE id IN (7, 8, 9)")
    want = source_rows(pg, table)
    polling.wait_for(
        "the sink to mirror INSERT/UPDATE/DELETE",
        lambda: sink_rows(col) == want,
        timeout=60,
        interval=0.3,
    )
    assert 7 not in sink_rows(col)

    streaming = p.connect.offsets("smoke-source")
    seen.append(
        {
            "t_s": round(time.monotonic() - t0, 1),
            "stage": stage_of(streaming),
            "sink_docs": col.count_documents({}),
            "offsets": streaming,
        }
    )
    # Streaming: no snapshot keys.  (A change's offset carries messageType, but
    # a heartbeat may commit a plain {lsn, txId, ts_usec} after it.)
    assert stage_of(streaming) == "CDC"
    assert "snapshot" not in streaming["offsets"][0]["offset"], streaming

    (p.state_dir / "observed-offsets.json").write_text(json.dumps(seen, indent=2))
    (p.state_dir / "measurements.json").write_text(
        json.dumps(
            {
                "start_s": p.start_times(),
                "rss_mib": {k: v >> 20 for k, v in p.rss_bytes().items()},
                "postgres_rows": n,
            },
            indent=2,
        )
    )


def test_pause_survives_worker_restart(
    e2e_pipeline: pipeline.Pipeline, e2e_postgres: PostgresServer, mongo: Any
) -> None:
    p, pg = e2e_pipeline, e2e_postgres
    table = "public.pause_items"
    create_table(pg, table, 10)
    col = mongo["pause"]["items"]
    p.connect.put_connector(
        "pause-sink",
        p.mongo_sink_config(
            topics=["pause.public.pause_items"], database="pause", collection="items"
        ),
    )
    p.connect.put_connector(
        "pause-source",
        p.postgres_source_config(topic_prefix="pause", tables=[table], slot_name="pause_slot"),
    )
    polling.wait_for(
        "10 snapshot rows in the sink",
        lambda: col.count_documents({}) == 10,
        timeout=60,
        interval=0.3,
    )

    r = p.connect.request("PUT", "/connectors/pause-source/pause")
    assert r.status_code == 202, r.text
    p.connect.wait_state("pause-source", "PAUSED")

    p.connect.restart()
    status = p.connect.wait_state("pause-source", "PAUSED", timeout_s=60)
    assert status["connector"]["state"] == "PAUSED"

    with pg.connect() as conn:
        conn.execute(f"INSERT INTO {table} VALUES (11, 'while-paused', 11)")
    time.sleep(4)  # a paused source must not deliver
    assert col.count_documents({}) == 10

    assert p.connect.request("PUT", "/connectors/pause-source/resume").status_code == 202
    p.connect.wait_state("pause-source", "RUNNING")
    polling.wait_for(
        "the row inserted while paused",
        lambda: col.count_documents({}) == 11,
        timeout=60,
        interval=0.3,
    )


def test_faultproxy_in_front_of_connect(e2e_pipeline: pipeline.Pipeline) -> None:
    connect = e2e_pipeline.connect
    with (
        ThreadedFaultProxy("127.0.0.1", connect.port) as proxy,
        httpx.Client(base_url=proxy.url, timeout=2) as c,
    ):
        assert c.get("/connectors").status_code == 200
        proxy.set_mode(Mode.HTTP_ERROR)
        r = c.get("/connectors")
        assert r.status_code == 500
        assert r.json()["error_code"] == 500
        proxy.set_mode(Mode.HTTP_ERROR, status=409)
        assert c.get("/connectors").status_code == 409
        proxy.set_mode(Mode.HANG)
        with pytest.raises(httpx.ReadTimeout):
            c.get("/connectors")
        proxy.set_mode(Mode.DROP)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            c.get("/connectors")
        proxy.set_mode(Mode.REFUSE)
        with pytest.raises(httpx.ConnectError):
            c.get("/connectors")
        proxy.set_mode(Mode.PASS)
        assert c.get("/connectors").status_code == 200


def test_measurements_recorded(e2e_pipeline: pipeline.Pipeline, e2e_state_dir: Path) -> None:
    times = e2e_pipeline.start_times()
    rss = e2e_pipeline.rss_bytes()
    print(f"\n[e2e] start seconds {times}; RSS MiB { {k: v >> 20 for k, v in rss.items()} }")
    assert all(t > 0 for t in times.values())
    assert all(v > 0 for v in rss.values())
