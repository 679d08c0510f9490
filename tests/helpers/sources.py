"""The real source databases as the operator sees them: what a job's Secret holds for a
server, a probe's connection, WAL written on purpose.

Why this exists: the probe tests, the operator's retention tests and the e2e
tests all point something at the same test servers (tests/env/postgres.py,
tests/env/mariadb.py); what a job's Secret holds for a server is written once.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

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


class WalWriter:
    """A background writer of WAL at a steady rate (logical messages, as :func:`write_wal`).

    Writes ``chunk`` bytes at fixed moments on an absolute schedule, so a late
    write is caught up rather than lowering the rate.  :meth:`set_rate` changes
    the rate from now on.  Bounded: it stops by itself after ``limit_s``
    seconds, and on leaving the ``with`` block.
    """

    def __init__(
        self,
        server: PostgresServer,
        *,
        bytes_per_second: float,
        chunk: int = 64 * 1024,
        limit_s: float = 600.0,
    ) -> None:
        self.server = server
        self.chunk = chunk
        self.limit_s = limit_s
        self.written = 0
        self.error: BaseException | None = None
        self._rate = bytes_per_second
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._origin = (time.monotonic(), 0)  # (when, bytes written by then) for the schedule

    def set_rate(self, bytes_per_second: float) -> None:
        with self._lock:
            self._origin = (time.monotonic(), self.written)
            self._rate = bytes_per_second

    def _next_write_at(self) -> float:
        with self._lock:
            (since, base), rate = self._origin, self._rate
        return since + (self.written - base + self.chunk) / rate

    def _run(self) -> None:
        stop_at = time.monotonic() + self.limit_s
        try:
            with self.server.connect() as conn:
                while not self._stop.is_set() and time.monotonic() < stop_at:
                    wait = self._next_write_at() - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return
                    conn.execute(
                        "SELECT pg_logical_emit_message(false, 'syncjob-test', repeat('x', %s))",
                        [self.chunk],
                    )
                    self.written += self.chunk
        except BaseException as exc:  # reported by stop(): a writer that died is a test failure
            self.error = exc

    def __enter__(self) -> WalWriter:
        self._origin = (time.monotonic(), 0)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the WAL writer failed: {self.error!r}") from self.error

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
