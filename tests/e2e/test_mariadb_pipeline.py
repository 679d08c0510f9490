"""Proves the real MariaDB pipeline works, and records what its offsets and failures look like.

Why this exists: the operator pauses, resumes and classifies MariaDB sources
as it does PostgreSQL ones, and its stage rule and its retention deadline
read Debezium's committed offsets, whose MariaDB form (binlog ``file``/``pos``,
MariaDB ``gtids``, ``ts_sec``) and failure on a purged binlog must be seen on
the real thing.  With real MariaDB (Debian) -> Debezium MariaDB connector ->
Kafka -> MongoDB sink -> FerretDB, these tests show:

* the initial snapshot and then CDC arrive and the sink equals the source
  (count and content); the operator's own stage rule reads Snapshot, then CDC,
  from the offsets;
* a pause through Connect REST stops delivery, and rows written while paused
  all arrive after the resume;
* what ``PURGE BINARY LOGS TO`` past the committed position does to a paused
  connector: nothing while its task still holds its binlog connection (the
  reader has read past the purged files), and a failed task on resume once
  the task has lost that connection (here: a worker restart while paused).

Observed offsets and start times are written to JSON files in the pipeline's
state directory.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pymongo
import pytest
from confluent_kafka.admin import AdminClient

from syncjob_operator.decide import stage
from tests.env import connectors, debezium_mariadb, mariadb, pipeline
from tests.env.debezium_mariadb import MariaDBSource
from tests.helpers.polling import wait_for

pytestmark = pytest.mark.e2e

T = TypeVar("T")
Rows = dict[int, tuple[str, int]]

OFFSET_KEYS = {"file", "pos", "gtids", "ts_sec"}


def offset_of(offsets: Any) -> dict[str, Any]:
    """The one partition's committed offset (a MariaDB source has one: ``{"server": prefix}``)."""
    entries = offsets.get("offsets") or []
    assert len(entries) == 1, offsets
    return dict(entries[0]["offset"])


def stage_of(offsets: Any) -> str:
    """The operator's own rule, on what ``GET /connectors/{n}/offsets`` returned."""
    return stage.connector_stage(e["offset"] for e in offsets.get("offsets") or [])


def gtid_seq(gtids: str, domain: int = 0) -> int:
    """The sequence number of ``domain`` in a MariaDB GTID list (``0-1-42,1-7-3``)."""
    for gtid in gtids.split(","):
        d, _server, seq = gtid.strip().split("-")
        if int(d) == domain:
            return int(seq)
    raise AssertionError(f"no GTID of domain {domain} in {gtids!r}")


def master_status(server: mariadb.MariaDBServer) -> tuple[str, int]:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def create_table(server: mariadb.MariaDBServer, db: str, n: int, *, name_width: int = 0) -> str:
    """``db.items`` with rows 1..n, names padded to ``name_width``; returns ``db.items``."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(
            f"CREATE TABLE {db}.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT)"
        )
        cur.executemany(
            f"INSERT INTO {db}.items VALUES (%s, %s, %s)",
            [(i, f"row-{i}".ljust(name_width, "."), i) for i in range(1, n + 1)],
        )
    return f"{db}.items"


def insert_rows(server: mariadb.MariaDBServer, table: str, ids: range) -> None:
    """One transaction per row (autocommit), as an application would write them."""
    with server.connect() as conn, conn.cursor() as cur:
        for i in ids:
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (i, f"new-{i}", i))


def source_rows(server: mariadb.MariaDBServer, table: str) -> Rows:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, name, qty FROM {table}")
        return {int(r[0]): (str(r[1]), int(r[2])) for r in cur.fetchall()}


def sink_rows(col: Any) -> Rows:
    return {int(d["_id"]): (d["name"], int(d["qty"])) for d in col.find({})}


def assert_sink_equals_source(col: Any, server: mariadb.MariaDBServer, table: str) -> None:
    want, have = source_rows(server, table), sink_rows(col)
    assert len(have) == len(want)
    assert have == want


def task_states(p: pipeline.Pipeline, name: str) -> list[str]:
    r = p.connect.request("GET", f"/connectors/{name}/status")
    return [t["state"] for t in r.json()["tasks"]] if r.status_code == 200 else []


def start_connectors(
    p: pipeline.Pipeline, src: MariaDBSource, *, db: str, table: str, server_id: int, **extra: str
) -> tuple[str, float]:
    """Sink, then source; wait for the source's first CDC offset.  Returns (name, put-to-CDC s)."""
    name = f"{db}-source"
    p.connect.put_connector(
        f"{db}-sink",
        p.mongo_sink_config(topics=[f"{db}.{table}"], database=db, collection="items"),
    )
    config = src.source_config(
        kafka_bootstrap=p.kafka.bootstrap,
        topic_prefix=db,
        tables=[table],
        server_id=server_id,
        **extra,
    )
    t0 = time.monotonic()
    p.connect.put_connector(name, config)
    wait_for(
        f"{name} to reach CDC", lambda: stage_of(p.connect.offsets(name)) == "CDC", timeout=120
    )
    to_cdc_s = time.monotonic() - t0
    MEASUREMENTS["connector_to_cdc_s"][db] = round(to_cdc_s, 2)
    return name, to_cdc_s


def delete_connectors(p: pipeline.Pipeline, db: str) -> None:
    for name in (f"{db}-source", f"{db}-sink"):
        p.connect.delete_connector(name)


# Filled by the tests, written to the state directory when the module ends.
MEASUREMENTS: dict[str, Any] = {"connector_to_cdc_s": {}}
OBSERVED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def p(e2e_pipeline: pipeline.Pipeline) -> Iterator[pipeline.Pipeline]:
    """The shared pipeline, whose worker must list the MariaDB connector."""
    plugins = e2e_pipeline.connect.request("GET", "/connector-plugins").json()
    classes = {x["class"]: x["version"] for x in plugins}
    assert debezium_mariadb.DEBEZIUM_MARIADB_CLASS in classes, classes
    MEASUREMENTS["debezium_mariadb_version"] = classes[debezium_mariadb.DEBEZIUM_MARIADB_CLASS]
    MEASUREMENTS["pipeline_start_s"] = e2e_pipeline.start_times()
    yield e2e_pipeline
    state = e2e_pipeline.state_dir
    (state / "mariadb-measurements.json").write_text(json.dumps(MEASUREMENTS, indent=2))
    (state / "mariadb-observed-offsets.json").write_text(json.dumps(OBSERVED, indent=2))
    print(f"\n[e2e] MariaDB pipeline measurements {json.dumps(MEASUREMENTS)}")
    print(f"[e2e] MariaDB offsets seen {json.dumps(OBSERVED)}")


@pytest.fixture(scope="module")
def src(e2e_state_dir: Path) -> Iterator[MariaDBSource]:
    source = debezium_mariadb.start_source(e2e_state_dir / "mariadb")
    MEASUREMENTS["mariadb_start_s"] = round(source.started_in_s, 2)
    yield source
    source.stop()


@pytest.fixture(scope="module")
def mongo(p: pipeline.Pipeline) -> Iterator[Any]:
    client: Any = pymongo.MongoClient(p.ferretdb.uri, serverSelectionTimeoutMS=10000)
    yield client
    client.close()


def test_snapshot_then_cdc_mirrors_source(
    p: pipeline.Pipeline, src: MariaDBSource, mongo: Any
) -> None:
    # MariaDB sends a result set in network buffers of 16 KiB
    # (net_buffer_length), so a slow SELECT of small rows reaches Debezium in
    # one burst at its end, and the Snapshot-stage offsets live for well under
    # a second.  Wide rows (about 80 bytes on the wire) fill a buffer every
    # ~200 rows: the snapshot's rows flow, and its offsets flush, all along.
    n = 1200
    table = create_table(src.server, "msmoke", n, name_width=60)
    col = mongo["msmoke"]["items"]
    # No writes from here until CDC: the snapshot must start at this position.
    file0, pos0 = master_status(src.server)
    gtids0 = debezium_mariadb.gtid_binlog_pos(src.server)

    p.connect.put_connector(
        "msmoke-sink",
        p.mongo_sink_config(topics=[f"msmoke.{table}"], database="msmoke", collection="items"),
    )
    # 1,200 x 8 ms: a snapshot that lasts long enough to be seen in the offsets.
    source = src.source_config(
        kafka_bootstrap=p.kafka.bootstrap,
        topic_prefix="msmoke",
        tables=[table],
        server_id=5401,
        **connectors.slow_snapshot_overrides(table, sleep_per_row_s=0.008, dialect="mariadb"),
    )
    t0 = time.monotonic()
    p.connect.put_connector("msmoke-source", source)

    seen: list[dict[str, Any]] = []

    def observe() -> bool:
        offsets = p.connect.offsets("msmoke-source")
        now, docs = stage_of(offsets), col.count_documents({})
        if not seen or seen[-1]["offsets"] != offsets:
            t = round(time.monotonic() - t0, 1)
            seen.append({"t_s": t, "stage": now, "sink_docs": docs, "offsets": offsets})
        return now == "CDC" and docs >= n

    wait_for("the snapshot to finish and reach the sink", observe, timeout=180)
    stages = [s["stage"] for s in seen]
    assert "Snapshot" in stages, seen
    assert stages[-1] == "CDC", seen
    assert_sink_equals_source(col, src.server, table)

    # Snapshot offsets: the binlog position the snapshot started at, and its kind.
    for s in seen:
        if s["stage"] == "Snapshot":
            offset = offset_of(s["offsets"])
            assert offset.keys() >= OFFSET_KEYS, offset
            assert offset["snapshot"] == "INITIAL", offset
            assert (offset["file"], offset["pos"], offset["gtids"]) == (file0, pos0, gtids0)
    snapshot_offset = offset_of(next(s for s in seen if s["stage"] == "Snapshot")["offsets"])

    with src.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (100001, 'inserted', 1)")
        cur.execute(f"UPDATE {table} SET qty = -5, name = 'updated' WHERE id = 5")
        cur.execute(f"DELETE FROM {table} WHERE id IN (7, 8, 9)")
    want = source_rows(src.server, table)
    wait_for("the sink to mirror INSERT/UPDATE/DELETE", lambda: sink_rows(col) == want, timeout=90)
    assert_sink_equals_source(col, src.server, table)
    assert 7 not in sink_rows(col)

    # Streaming offsets: binlog file/pos/gtids/ts_sec, no snapshot keys; gtids
    # are the transactions completed before the event (the DELETE's own GTID
    # is not in them; "event"/"row" say how far into it).
    server_seq = gtid_seq(debezium_mariadb.gtid_binlog_pos(src.server))

    def cdc_offset_past_the_update() -> dict[str, Any] | None:
        offset = offset_of(p.connect.offsets("msmoke-source"))
        return offset if gtid_seq(offset["gtids"]) >= gtid_seq(gtids0) + 2 else None

    streaming = wait_for("a CDC offset past the UPDATE", cdc_offset_past_the_update, timeout=60)
    seen.append(
        {
            "t_s": round(time.monotonic() - t0, 1),
            "stage": stage.offset_stage(streaming),
            "sink_docs": col.count_documents({}),
            "offsets": p.connect.offsets("msmoke-source"),
        }
    )
    assert streaming.keys() >= OFFSET_KEYS, streaming
    assert "snapshot" not in streaming and "snapshot_completed" not in streaming, streaming
    assert stage.offset_stage(streaming) == "CDC"
    assert streaming["file"] == master_status(src.server)[0]
    assert gtid_seq(streaming["gtids"]) <= server_seq
    assert streaming["server_id"] == 1  # the server that wrote the event
    assert streaming["ts_sec"] >= snapshot_offset["ts_sec"]

    # The schema history lives in the test Kafka, one partition.
    topics = AdminClient({"bootstrap.servers": p.kafka.bootstrap}).list_topics(timeout=10).topics
    assert len(topics["msmoke.schema-history"].partitions) == 1

    OBSERVED["snapshot_then_cdc"] = seen
    delete_connectors(p, "msmoke")


def test_pause_stops_delivery_and_resume_delivers(
    p: pipeline.Pipeline, src: MariaDBSource, mongo: Any
) -> None:
    table = create_table(src.server, "mpause", 10)
    col = mongo["mpause"]["items"]
    name, _ = start_connectors(p, src, db="mpause", table=table, server_id=5402)
    wait_for("10 snapshot rows in the sink", lambda: col.count_documents({}) == 10, timeout=60)

    r = p.connect.request("PUT", f"/connectors/{name}/pause")
    assert r.status_code == 202, r.text
    p.connect.wait_state(name, "PAUSED")
    paused_at = p.connect.offsets(name)
    OBSERVED["pause"] = {"committed_at_pause": offset_of(paused_at)}

    insert_rows(src.server, table, range(11, 16))
    time.sleep(4)  # a paused source must not deliver
    assert col.count_documents({}) == 10
    assert p.connect.offsets(name) == paused_at  # and commits nothing

    assert p.connect.request("PUT", f"/connectors/{name}/resume").status_code == 202
    p.connect.wait_state(name, "RUNNING")
    wait_for("the 5 rows inserted while paused", lambda: col.count_documents({}) == 15, timeout=60)
    assert_sink_equals_source(col, src.server, table)
    OBSERVED["pause"]["committed_after_resume"] = offset_of(p.connect.offsets(name))
    delete_connectors(p, "mpause")


def test_purge_while_paused_with_its_reader_connected_loses_nothing(
    p: pipeline.Pipeline, mongo: Any, e2e_state_dir: Path
) -> None:
    """A paused task keeps its binlog connection and reads on into memory.

    So the purge removes the file of the committed offset, yet the resume
    delivers every row and nothing fails: the reader is past the purged files.
    """
    src = debezium_mariadb.start_source(e2e_state_dir / "mariadb-purge-live")
    try:
        table = create_table(src.server, "mlive", 10)
        col = mongo["mlive"]["items"]
        name, _ = start_connectors(p, src, db="mlive", table=table, server_id=5403)
        wait_for("10 snapshot rows in the sink", lambda: col.count_documents({}) == 10, timeout=60)
        assert p.connect.request("PUT", f"/connectors/{name}/pause").status_code == 202
        p.connect.wait_state(name, "PAUSED")
        committed = offset_of(p.connect.offsets(name))

        insert_rows(src.server, table, range(11, 31))
        assert [u for _, u in debezium_mariadb.binlog_readers(src.server)] == [src.user]
        purge = debezium_mariadb.rotate_and_purge(src.server, rotations=2)
        assert purge.after == [purge.purged_to], purge
        assert committed["file"] not in purge.after, (committed, purge)

        assert p.connect.request("PUT", f"/connectors/{name}/resume").status_code == 202
        wait_for(
            "the 20 rows written while paused", lambda: col.count_documents({}) == 30, timeout=60
        )
        assert_sink_equals_source(col, src.server, table)
        assert task_states(p, name) == ["RUNNING"]
        OBSERVED["purge_while_paused_reader_connected"] = {
            "committed_at_pause": committed,
            "purge": dataclasses.asdict(purge),
            "committed_after_resume": offset_of(p.connect.offsets(name)),
        }
        delete_connectors(p, "mlive")
    finally:
        src.stop()


def test_purge_while_paused_after_worker_restart_fails_on_resume(
    p: pipeline.Pipeline, mongo: Any, e2e_state_dir: Path
) -> None:
    """A worker restart while paused leaves the task without a binlog connection.

    Connect starts a paused task's ``start()`` only at the resume, so nothing
    holds the binlog files; the purge removes what the committed offset
    needs, and on resume the binlog reader fails with the server's error 1236
    (Debezium's own "no longer available" check at task start lets the GTID
    offset through, so this is the error the operator sees).
    """
    src = debezium_mariadb.start_source(e2e_state_dir / "mariadb-purge-gone")
    try:
        table = create_table(src.server, "mgone", 10)
        col = mongo["mgone"]["items"]
        name, _ = start_connectors(p, src, db="mgone", table=table, server_id=5404)
        wait_for("10 snapshot rows in the sink", lambda: col.count_documents({}) == 10, timeout=60)
        assert p.connect.request("PUT", f"/connectors/{name}/pause").status_code == 202
        p.connect.wait_state(name, "PAUSED")
        p.connect.restart()
        p.connect.wait_state(name, "PAUSED", timeout_s=60)
        committed = offset_of(p.connect.offsets(name))

        insert_rows(src.server, table, range(11, 31))
        # The old reader's thread on the server dies at the first write it
        # cannot send; until then it would hold its file.
        wait_for(
            "no binlog reader left",
            lambda: not debezium_mariadb.binlog_readers(src.server),
            timeout=30,
        )
        purge = debezium_mariadb.rotate_and_purge(src.server, rotations=2)
        assert purge.after == [purge.purged_to], purge
        assert committed["file"] not in purge.after, (committed, purge)

        assert p.connect.request("PUT", f"/connectors/{name}/resume").status_code == 202
        wait_for("the resumed task to fail", lambda: task_states(p, name) == ["FAILED"], timeout=90)
        status = p.connect.status(name)
        trace = status["tasks"][0]["trace"]
        OBSERVED["purge_while_paused_after_worker_restart"] = {
            "committed_at_pause": committed,
            "purge": dataclasses.asdict(purge),
            "committed_after_failure": offset_of(p.connect.offsets(name)),
            "trace": [line for line in trace.splitlines() if not line.startswith("\t")],
        }
        assert "Error code: 1236" in trace, trace
        assert "required binlog files have been purged" in trace, trace
        # Only the task fails; the connector itself stays RUNNING.
        assert status["connector"]["state"] == "RUNNING"
        assert col.count_documents({}) == 10
        delete_connectors(p, "mgone")
    finally:
        src.stop()
