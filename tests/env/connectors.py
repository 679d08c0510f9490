"""Connector configs for the pipeline: a Debezium PostgreSQL source and a MongoDB sink.

Why this exists: every e2e test and ``make run`` sets up the same kind of job
(a table captured by Debezium, mirrored into FerretDB), and the settings that
make the mirror exact (deletes included) are easy to get subtly wrong; they
are written down once, here, with why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tests.env.connect import DEBEZIUM_POSTGRES_CLASS, MONGO_SINK_CLASS

if TYPE_CHECKING:
    from tests.env.postgres import PostgresServer

# Debezium's ExtractNewRecordState acts on Struct values only: with schemaless
# JSON (the worker default here) the sink would get the raw envelope and never
# see a delete.  So the Debezium topics carry JSON with schemas.
JSON_WITH_SCHEMAS = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "true",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "true",
}


_SLEEP_PER_ROW = {
    "postgresql": "pg_sleep({s})::text = ''",
    # MariaDB's SLEEP() returns 0, once per row.
    "mariadb": "SLEEP({s}) = 0",
}


def slow_snapshot_overrides(
    table: str, *, sleep_per_row_s: float = 0.005, dialect: str = "postgresql"
) -> dict[str, str]:
    """Source overrides that make the initial snapshot of ``table`` take rows x sleep seconds.

    The snapshot SELECT sleeps for every row, and a small fetch size
    makes the rows (and so committed offsets with ``snapshot_completed=false``)
    flow while it runs.  Deterministic, unlike "a big table", whose snapshot
    time depends on the machine.
    """
    return {
        "snapshot.fetch.size": "20",
        "max.batch.size": "50",
        "snapshot.select.statement.overrides": table,
        f"snapshot.select.statement.overrides.{table}": (
            f"SELECT * FROM {table} WHERE "
            + _SLEEP_PER_ROW[dialect].format(s=f"{sleep_per_row_s:g}")
        ),
    }


def _with_overrides(config: dict[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """``overrides`` on top of ``config``; a key without a dot has ``_`` for ``.``."""
    config.update({k.replace("_", ".") if "." not in k else k: v for k, v in overrides.items()})
    return config


def postgres_source(
    pg: PostgresServer,
    *,
    topic_prefix: str,
    tables: list[str],
    slot_name: str,
    publication_name: str | None = None,
    dbname: str | None = None,
    heartbeat_table: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """Debezium PostgreSQL source (pgoutput, filtered publication, 1 s heartbeats).

    ``tables`` are ``schema.table`` names; ``overrides`` use Debezium's
    property names with ``_`` for ``.`` (``snapshot_fetch_size="100"``) or
    pass a dict through ``**{"snapshot.fetch.size": "100"}``.

    ``heartbeat_table`` (``schema.table``, made by :func:`heartbeat_table_sql`)
    makes every heartbeat write a row there, captured like the job's tables.
    Why: Debezium confirms to the slot only the LSN of a change it captured
    and committed, so on a database whose captured tables are quiet the
    slot's ``confirmed_flush_lsn`` stays behind every other write to the
    server (seen: ~130 KiB after a catch-up), and the backlog never reads 0.
    A captured write each second moves it up to the server's WAL position.
    """
    config = {
        "connector.class": DEBEZIUM_POSTGRES_CLASS,
        "tasks.max": "1",
        "database.hostname": pg.host,
        "database.port": str(pg.port),
        "database.user": pg.user,
        "database.password": pg.password,
        "database.dbname": dbname or pg.dbname,
        "topic.prefix": topic_prefix,
        "plugin.name": "pgoutput",
        "slot.name": slot_name,
        "publication.name": publication_name or f"{slot_name}_pub",
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join([*tables, *([heartbeat_table] if heartbeat_table else [])]),
        "heartbeat.interval.ms": "1000",
        "snapshot.mode": "initial",
        "tombstones.on.delete": "true",
        "decimal.handling.mode": "string",
        "time.precision.mode": "connect",
        **JSON_WITH_SCHEMAS,
    }
    if heartbeat_table:
        config["heartbeat.action.query"] = (
            f"INSERT INTO {heartbeat_table} (id, ts) VALUES (1, now()) "
            "ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts"
        )
    return _with_overrides(config, overrides)


def heartbeat_table_sql(table: str) -> str:
    """The table a source's ``heartbeat_table`` writes to; it must exist before the connector."""
    return f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, ts timestamptz NOT NULL)"


def mongo_sink(
    uri: str,
    *,
    topics: list[str],
    database: str,
    collection: str | None = None,
    key_field: str | None = "id",
    **overrides: str,
) -> dict[str, str]:
    """MongoDB sink (to ``uri``) that mirrors a Debezium source exactly, deletes included.

    Debezium's ExtractNewRecordState turns each change event into the row
    after the change and each delete into a tombstone (null value); the
    sink replaces the document with the record key's ``_id`` and deletes it
    on a tombstone.  With ``key_field`` (a one-column primary key) the key
    field is renamed to ``_id`` so that ``_id`` is the scalar key value:
    FerretDB looks up scalar ``_id`` values by index, but scans the whole
    collection for a document ``_id`` (~40 writes/s at 1500 rows).  With
    ``key_field=None`` the whole key document is the ``_id``
    (``{"id": 7}``), which suits composite keys.
    """
    strategy = "com.mongodb.kafka.connect.sink.processor.id.strategy."
    config = {
        "connector.class": MONGO_SINK_CLASS,
        "tasks.max": "1",
        "topics": ",".join(topics),
        "connection.uri": uri,
        "database": database,
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.drop.tombstones": "false",
        "transforms.unwrap.delete.tombstone.handling.mode": "tombstone",
        "document.id.strategy": strategy + "FullKeyStrategy",
        "document.id.strategy.overwrite.existing": "true",
        "writemodel.strategy": (
            "com.mongodb.kafka.connect.sink.writemodel.strategy.ReplaceOneDefaultStrategy"
        ),
        "delete.on.null.values": "true",
        # FerretDB 1.24 deadlocks on an `update` command with >= 100 updates
        # of existing documents (tests/env/README-pipeline.md): keep bulk writes small.
        "max.batch.size": "50",
        "errors.tolerance": "none",
        "errors.log.enable": "true",
        "errors.log.include.messages": "true",
        **JSON_WITH_SCHEMAS,
    }
    if key_field:
        config.update(
            {
                "transforms": "unwrap,keyid",
                "transforms.keyid.type": "org.apache.kafka.connect.transforms.ReplaceField$Key",
                "transforms.keyid.renames": f"{key_field}:_id",
                "document.id.strategy": strategy + "ProvidedInKeyStrategy",
            }
        )
    if collection:
        config["collection"] = collection
    return _with_overrides(config, overrides)
