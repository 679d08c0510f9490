"""Debezium's MariaDB source against a real Debian MariaDB: server settings, user, configs.

Why this exists: the operator pauses, resumes and classifies MariaDB sources
too, and a MariaDB source's committed offsets (binlog ``file``/``pos``,
MariaDB GTIDs, ``ts_sec``) and failure modes (a purged binlog) differ from
PostgreSQL's.  So the e2e tests run a second real pipeline beside the
PostgreSQL one: MariaDB (``tests.env.mariadb``) -> Debezium MariaDB connector
-> the same Kafka and Connect worker -> the same MongoDB sink -> FerretDB
(``tests.env.pipeline``).

This module holds only what is MariaDB's: the server options and the account
Debezium needs, the source connector config, and a few binlog helpers.  The
plugin is fetched by ``tests/env/fetch-debezium-mariadb.sh`` (run by
fetch-pipeline.sh) into the worker's plugin path, so the worker that
``pipeline.Pipeline.start`` starts already has it.  Typical use::

    from tests.env import debezium_mariadb, pipeline
    p = pipeline.Pipeline.start(tmp / "pipeline")
    src = debezium_mariadb.start_source(tmp / "mariadb")
    p.connect.put_connector("sink", p.mongo_sink_config(topics=["m.shop.items"], ...))
    p.connect.put_connector("src", src.source_config(
        kafka_bootstrap=p.kafka.bootstrap, topic_prefix="m", tables=["shop.items"]))
    ...
    src.stop(); p.stop()
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.env import artifacts, connectors, mariadb

DEBEZIUM_MARIADB_CLASS = "io.debezium.connector.mariadb.MariaDbConnector"

# Server options Debezium's MariaDB connector needs (command-line form).  Some
# repeat tests.env.mariadb's defaults on purpose: this is the one list of what
# the connector relies on, whatever those defaults become.
SERVER_SETTINGS: dict[str, str] = {
    "log-bin": "binlog",  # relative: inside the data directory
    "binlog-format": "ROW",
    "binlog-row-image": "FULL",
    "server-id": "1",  # the connector joins as a replica with its own database.server.id
    # MariaDB writes its own GTIDs (domain-server-sequence) into every binlog
    # with no switch; strict mode makes out-of-order GTIDs an error, as on a
    # primary whose replicas fail over by GTID.
    "gtid-domain-id": "0",
    "gtid-strict-mode": "ON",
    "log-slave-updates": "ON",
}

# The global privileges Debezium's docs list for MariaDB.  BINLOG MONITOR is
# MariaDB 10.5+'s name for REPLICATION CLIENT (SHOW BINARY LOGS, SHOW MASTER
# STATUS); LOCK TABLES is for snapshot locking where FLUSH TABLES WITH READ
# LOCK is not allowed.
PRIVILEGES: tuple[str, ...] = (
    "SELECT",
    "RELOAD",
    "SHOW DATABASES",
    "REPLICATION SLAVE",
    "BINLOG MONITOR",
    "LOCK TABLES",
)

DEFAULT_USER = "debezium"


def plugin_dir() -> Path:
    """Where fetch-debezium-mariadb.sh puts the plugin: inside the worker's plugin.path."""
    return artifacts.kafka_home() / "plugins" / "debezium-connector-mariadb"


@dataclass
class MariaDBSource:
    """A MariaDB server set up for Debezium, and the account the connector uses."""

    server: mariadb.MariaDBServer
    user: str
    password: str
    started_in_s: float  # install + start + account, wall time

    def stop(self) -> None:
        self.server.stop()

    def source_config(
        self,
        *,
        kafka_bootstrap: str,
        topic_prefix: str,
        tables: list[str],
        server_id: int = 5401,
        **overrides: str,
    ) -> dict[str, str]:
        """Debezium MariaDB source (initial snapshot, 1 s heartbeats, schema history in Kafka).

        ``tables`` are ``database.table`` names; their databases are the
        ``database.include.list``.  ``server_id`` is the connector's replica id
        and must differ from the server's and every other connector's on the
        same server.  The schema history goes to ``<topic_prefix>.schema-history``
        in the test Kafka (Debezium creates it with one partition and no
        retention limit).  ``overrides`` as in ``Pipeline.postgres_source_config``.
        """
        databases = sorted({t.split(".", 1)[0] for t in tables})
        config = {
            "connector.class": DEBEZIUM_MARIADB_CLASS,
            "tasks.max": "1",
            "database.hostname": self.server.host,
            "database.port": str(self.server.port),
            "database.user": self.user,
            "database.password": self.password,
            "database.server.id": str(server_id),
            "topic.prefix": topic_prefix,
            "database.include.list": ",".join(databases),
            "table.include.list": ",".join(tables),
            "schema.history.internal.kafka.bootstrap.servers": kafka_bootstrap,
            "schema.history.internal.kafka.topic": f"{topic_prefix}.schema-history",
            # DDL events on a topic of their own are not mirrored anywhere.
            "include.schema.changes": "false",
            "heartbeat.interval.ms": "1000",
            "snapshot.mode": "initial",
            "tombstones.on.delete": "true",
            "decimal.handling.mode": "string",
            "time.precision.mode": "connect",
            **connectors.JSON_WITH_SCHEMAS,
        }
        config.update({k.replace("_", ".") if "." not in k else k: v for k, v in overrides.items()})
        return config


def create_user(
    server: mariadb.MariaDBServer, *, user: str = DEFAULT_USER, password: str | None = None
) -> tuple[str, str]:
    """Create the connector's account on 127.0.0.1 with :data:`PRIVILEGES`; return (user, pw)."""
    if not user.replace("_", "").isalnum():
        raise ValueError(f"not a plain user name: {user!r}")
    password = password or secrets.token_urlsafe(18)
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT {', '.join(PRIVILEGES)} ON *.* TO '{user}'@'127.0.0.1'")
    return user, password


def start_source(
    workdir: Path,
    *,
    settings: Mapping[str, str | int | None] | None = None,
    user: str = DEFAULT_USER,
) -> MariaDBSource:
    """Start a MariaDB with :data:`SERVER_SETTINGS` (and ``settings``) and the connector user."""
    t0 = time.monotonic()
    server = mariadb.start_mariadb(workdir, settings={**SERVER_SETTINGS, **(settings or {})})
    try:
        name, password = create_user(server, user=user)
    except BaseException:
        server.stop()
        raise
    return MariaDBSource(server, name, password, time.monotonic() - t0)


# ---------------------------------------------------------------------------
# binlog helpers (as root)


def binary_logs(server: mariadb.MariaDBServer) -> list[str]:
    """``SHOW BINARY LOGS``: the binlog files the server still has, oldest first."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [str(row[0]) for row in cur.fetchall()]


@dataclass(frozen=True)
class Purge:
    """What ``PURGE BINARY LOGS TO`` did: the files before and after, and the server's warnings."""

    before: list[str]
    purged_to: str
    after: list[str]
    warnings: list[str]


def rotate_and_purge(
    server: mariadb.MariaDBServer, *, rotations: int = 1, settle_s: float = 10.0
) -> Purge:
    """``FLUSH BINARY LOGS`` ``rotations`` times, then ``PURGE BINARY LOGS TO`` the newest.

    Every older file is asked to go, whoever still needs it: what a short
    ``binlog_expire_logs_seconds`` does to a paused connector's position,
    without waiting for it.  MariaDB skips, without a word, a file that is
    not yet binlog-checkpointed (InnoDB has not flushed its commits yet: up
    to a second here, with ``innodb_flush_log_at_trx_commit=2``) and a file
    that a connected binlog reader is reading.  So the purge is repeated
    until only the newest file is left or ``settle_s`` has passed; what is
    left then is in ``after``.
    """
    before = binary_logs(server)
    deadline = time.monotonic() + settle_s
    with server.connect() as conn, conn.cursor() as cur:
        for _ in range(rotations):
            cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
        if row is None:
            raise RuntimeError("SHOW MASTER STATUS is empty: is log_bin on?")
        newest = str(row[0])
        while True:
            cur.execute("PURGE BINARY LOGS TO %s", (newest,))
            cur.execute("SHOW WARNINGS")
            warnings = [str(w[2]) for w in cur.fetchall()]
            after = binary_logs(server)
            if after == [newest] or time.monotonic() >= deadline:
                return Purge(before, newest, after, warnings)
            time.sleep(0.25)


def binlog_readers(server: mariadb.MariaDBServer) -> list[tuple[int, str]]:
    """The connected binlog readers (``Binlog Dump`` threads): (thread id, user)."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW PROCESSLIST")
        return [(int(r[0]), str(r[1])) for r in cur.fetchall() if r[4] == "Binlog Dump"]


def gtid_binlog_pos(server: mariadb.MariaDBServer) -> str:
    """``@@gtid_binlog_pos``: the last GTID the server wrote per domain (``0-1-42``)."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@global.gtid_binlog_pos")
        row = cur.fetchone()
    return str(row[0]) if row else ""
