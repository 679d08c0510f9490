"""The real source databases as the operator sees them: what a job's Secret holds for a
server, a probe's connection, WAL written on purpose.

Why this exists: the probe tests, the operator's retention tests and the e2e
tests all point something at the same test servers (tests/env/postgres.py,
tests/env/mariadb.py); what a job's Secret holds for a server is written once.
"""

from __future__ import annotations

from syncjob_operator.probes.connection import SourceConnection
from tests.env.mariadb import MariaDBServer
from tests.env.postgres import PostgresServer

# The session PostgreSQL's max_slot_wal_keep_size: with 1 MB WAL segments a
# test pushes a slot to "lost" with a few tens of MB of WAL.
PG_KEEP_SIZE_MB = 32


def postgres_secret_data(server: PostgresServer, **overrides: str) -> dict[str, str]:
    """A job's connection Secret (``stringData``) for ``server``; keyword overrides win."""
    data = {
        "host": server.host,
        "port": str(server.port),
        "dbname": server.dbname,
        "user": server.user,
        "password": server.password,
    }
    data.update(overrides)
    return data


def mariadb_secret_data(server: MariaDBServer, **overrides: str) -> dict[str, str]:
    """A job's connection Secret (``stringData``) for ``server``; keyword overrides win."""
    data = {
        "host": server.host,
        "port": str(server.port),
        "user": server.user,
        "password": server.password,
    }
    data.update(overrides)
    return data


def pg_connection(server: PostgresServer, **overrides: str) -> SourceConnection:
    """A SourceConnection as the operator would build it from the job's Secret."""
    return SourceConnection.from_secret(
        postgres_secret_data(server, **overrides), source_type="postgresql"
    )


def mariadb_connection(server: MariaDBServer, **overrides: str) -> SourceConnection:
    """A SourceConnection as the operator would build it from the job's Secret."""
    return SourceConnection.from_secret(
        mariadb_secret_data(server, **overrides), source_type="mariadb"
    )


def write_wal(server: PostgresServer, megabytes: int) -> None:
    """Write about ``megabytes`` MB of WAL, fast: non-transactional logical messages,
    which no paused job's slot reads."""
    with server.connect() as conn:
        for _ in range(megabytes):
            conn.execute(
                "SELECT pg_logical_emit_message(false, 'syncjob-test', repeat('x', 1048576))"
            )
