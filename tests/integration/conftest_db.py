"""Session fixtures for the real source databases (PostgreSQL, MariaDB).

Also a bare Kafka broker (tests/env/kafka.py) for the topic-retention probe.

Why a separate module: tests/integration/conftest.py belongs to the control
plane's fixtures; the probe tests import these by name instead
(``from conftest_db import pg_server``), so a test run that does not need a
database does not start one.

tests/integration is not a package, so pytest (prepend import mode) puts only
this directory on sys.path while it collects: the test modules import this
one as ``conftest_db``, and this module puts the repository root on sys.path
so that ``tests.env`` imports. (``pythonpath = ["."]`` in the pytest config
would make that unnecessary.)

PostgreSQL runs with 1 MB WAL segments and ``max_slot_wal_keep_size`` 32 MB,
so a test pushes a slot to ``lost`` with a few tens of MB of WAL.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncjob_operator.decide import retention

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.env import artifacts, kafka, mariadb, postgres, processes  # noqa: E402 - needs the root on sys.path

MariaDBServer = mariadb.MariaDBServer
PostgresServer = postgres.PostgresServer
KafkaServer = kafka.KafkaServer
start_mariadb = mariadb.start_mariadb

PG_KEEP_SIZE_MB = 32


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[postgres.PostgresServer]:
    server = postgres.start_postgres(
        tmp_path_factory.mktemp("postgres"),
        settings={
            "max_slot_wal_keep_size": f"{PG_KEEP_SIZE_MB}MB",
            # Checkpoints only when a test asks (CHECKPOINT), so "unreserved"
            # can be seen before "lost".
            "checkpoint_timeout": "1h",
            "max_wal_size": "1GB",
        },
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_slot(pg_server: postgres.PostgresServer) -> Iterator[str]:
    """A fresh logical slot (pgoutput) in database postgres, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:10]}"
    with pg_server.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
    try:
        yield name
    finally:
        with pg_server.connect() as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s",
                [name],
            )


def pg_connection(server: postgres.PostgresServer, **overrides: str) -> retention.SourceConnection:
    """A SourceConnection as the operator would build it from the job's Secret."""
    data = {
        "host": server.host,
        "port": str(server.port),
        "dbname": server.dbname,
        "user": server.user,
        "password": server.password,
    }
    data.update(overrides)
    return retention.SourceConnection.from_secret(data, source_type="postgresql")


def write_wal(server: postgres.PostgresServer, megabytes: int) -> None:
    """Write about ``megabytes`` MB of WAL, fast: non-transactional logical messages."""
    with server.connect() as conn:
        for _ in range(megabytes):
            conn.execute(
                "SELECT pg_logical_emit_message(false, 'syncjob-test', repeat('x', 1048576))"
            )


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mariadb.MariaDBServer]:
    server = mariadb.start_mariadb(
        tmp_path_factory.mktemp("mariadb"), settings={"binlog_expire_logs_seconds": 86400}
    )
    try:
        yield server
    finally:
        server.stop()


def mariadb_connection(
    server: mariadb.MariaDBServer, **overrides: str
) -> retention.SourceConnection:
    data = {
        "host": server.host,
        "port": str(server.port),
        "user": server.user,
        "password": server.password,
    }
    data.update(overrides)
    return retention.SourceConnection.from_secret(data, source_type="mariadb")


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.KafkaServer]:
    """A single KRaft broker from tests/env/kafka.py (only Kafka: no Connect, no FerretDB)."""
    if not artifacts.is_fetched():
        pytest.skip("Kafka is not in the cache: run tests/env/fetch-pipeline.sh")
    server = kafka.start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield server
    finally:
        server.stop()


def unused_port() -> int:
    return processes.free_port()


__all__ = [
    "kafka_server",
    "mariadb_connection",
    "mariadb_server",
    "pg_connection",
    "pg_server",
    "pg_slot",
    "start_mariadb",
    "unused_port",
    "write_wal",
]
