"""Read a PostgreSQL replication slot's retention state (read-only, bounded).

Why this exists: a paused Debezium PostgreSQL connector's events live in the
WAL its replication slot holds back. How much more WAL the server will keep
for it (``safe_wal_size``), whether it already dropped some (``wal_status =
lost``) and how fast WAL is written (``pg_current_wal_lsn()``) are what
:mod:`syncjob_operator.decide.retention` turns into a deadline. This module
only reads them: one short read-only session, bounded by ``connect_timeout``,
``statement_timeout`` and an overall ``asyncio.timeout``, errors mapped onto
:mod:`syncjob_operator.probes.errors`.

Columns differ by server version, so the query is built from
``server_version_num``: ``wal_status``/``safe_wal_size`` (13+),
``conflicting`` (16+), ``invalidation_reason``/``inactive_since`` (17+),
``idle_replication_slot_timeout`` (18+).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from syncjob_operator import units
from syncjob_operator.decide import retention
from syncjob_operator.probes import errors
from syncjob_operator.probes.connection import SourceConnection

_T = TypeVar("_T")

APPLICATION_NAME = "syncjob-operator-probe"

# Multipliers from pg_settings.unit to bytes / seconds.
_BYTE_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SECOND_UNITS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


def slot_query(server_version_num: int) -> str:
    """The slot query for a server version: columns it lacks come back as NULL."""
    v13 = server_version_num >= 130000
    v16 = server_version_num >= 160000
    v17 = server_version_num >= 170000
    return f"""
        SELECT s.slot_name, s.plugin, s.slot_type, s.active,
               s.restart_lsn::text AS restart_lsn,
               s.confirmed_flush_lsn::text AS confirmed_flush_lsn,
               {"s.wal_status" if v13 else "NULL::text"} AS wal_status,
               {"s.safe_wal_size" if v13 else "NULL::bigint"} AS safe_wal_size,
               {"s.conflicting" if v16 else "NULL::boolean"} AS conflicting,
               {"s.invalidation_reason" if v17 else "NULL::text"} AS invalidation_reason,
               {"s.inactive_since" if v17 else "NULL::timestamptz"} AS inactive_since,
               cur.lsn::text AS current_lsn,
               pg_wal_lsn_diff(cur.lsn, s.restart_lsn)::bigint AS retained_bytes,
               clock_timestamp() AS observed_at
          FROM pg_replication_slots s,
               (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                            ELSE pg_current_wal_lsn() END AS lsn) cur
         WHERE s.slot_name = %(slot)s
    """


SETTINGS_QUERY = """
    SELECT name, setting, unit FROM pg_settings
     WHERE name IN ('max_slot_wal_keep_size', 'idle_replication_slot_timeout')
"""


def _setting_bytes(setting: str, unit: str | None) -> int | None:
    value = int(setting)
    return None if value < 0 else value * _BYTE_UNITS.get(unit or "B", 1)


def _setting_seconds(setting: str, unit: str | None) -> int:
    return int(int(setting) * _SECOND_UNITS.get(unit or "s", 1))


def observation_from_rows(
    slot_row: dict[str, object], settings_rows: list[dict[str, object]], server_version_num: int
) -> retention.PgSlotObservation:
    """The observation from the two queries' rows (pure: unit tests feed it recordings)."""
    settings = {str(r["name"]): r for r in settings_rows}
    keep = settings.get("max_slot_wal_keep_size")
    # Before 13 there is no limit at all: WAL is kept without bound.
    keep_bytes = (
        _setting_bytes(str(keep["setting"]), _opt_str(keep["unit"])) if keep is not None else None
    )
    idle = settings.get("idle_replication_slot_timeout")
    idle_seconds = (
        _setting_seconds(str(idle["setting"]), _opt_str(idle["unit"])) if idle is not None else None
    )

    def lsn(key: str) -> int | None:
        value = slot_row.get(key)
        return units.parse_lsn(str(value)) if value is not None else None

    current = lsn("current_lsn")
    observed_at = slot_row["observed_at"]
    if current is None or not isinstance(observed_at, datetime):
        raise errors.ProbeError("the server reported no current WAL position")
    inactive_since = slot_row.get("inactive_since")
    return retention.PgSlotObservation(
        slot_name=str(slot_row["slot_name"]),
        server_version_num=server_version_num,
        observed_at=observed_at,
        current_lsn=current,
        active=bool(slot_row["active"]),
        wal_status=_opt_str(slot_row.get("wal_status")),
        safe_wal_size=_opt_int(slot_row.get("safe_wal_size")),
        restart_lsn=lsn("restart_lsn"),
        confirmed_flush_lsn=lsn("confirmed_flush_lsn"),
        retained_bytes=_opt_int(slot_row.get("retained_bytes")),
        max_slot_wal_keep_size_bytes=keep_bytes,
        plugin=_opt_str(slot_row.get("plugin")),
        slot_type=_opt_str(slot_row.get("slot_type")),
        conflicting=None if slot_row.get("conflicting") is None else bool(slot_row["conflicting"]),
        invalidation_reason=_opt_str(slot_row.get("invalidation_reason")),
        inactive_since=inactive_since if isinstance(inactive_since, datetime) else None,
        idle_replication_slot_timeout_seconds=idle_seconds,
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: object) -> int | None:
    return None if value is None else int(str(value))


@contextlib.contextmanager
def _ca_file(pem: str | None) -> Iterator[str | None]:
    """libpq wants sslrootcert as a file: write the Secret's ca.crt to a private temp file."""
    if pem is None:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="syncjob-ca-", suffix=".crt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        yield path
    finally:
        os.unlink(path)


def _conninfo_kwargs(
    connection: SourceConnection,
    *,
    connect_timeout_s: int,
    statement_timeout_ms: int,
    ca_path: str | None,
) -> dict[str, str | int]:
    kwargs: dict[str, str | int] = {
        "host": connection.host,
        "port": connection.port,
        "user": connection.user,
        "dbname": connection.dbname or "postgres",
        "connect_timeout": connect_timeout_s,
        "application_name": APPLICATION_NAME,
        # Read-only and short, whatever the account's defaults say.
        "options": (
            f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms}"
            f" -c lock_timeout={statement_timeout_ms} -c idle_in_transaction_session_timeout="
            f"{statement_timeout_ms * 2}"
        ),
    }
    if connection.password is not None:
        kwargs["password"] = connection.password
    if connection.sslmode:
        kwargs["sslmode"] = connection.sslmode
    if ca_path:
        kwargs["sslrootcert"] = ca_path
    return kwargs


def _text(exc: BaseException, connection: SourceConnection) -> str:
    """The driver's message on one line, with the password (if it ever appears) masked."""
    return connection.redact(" ".join(str(exc).split()))


def _connect_error(
    exc: psycopg.OperationalError, connection: SourceConnection
) -> errors.ProbeError:
    """Map a failed connect onto a reason. libpq gives text, not SQLSTATE, for most of these."""
    text = _text(exc, connection)
    where = f"PostgreSQL at {connection.address}"
    lowered = text.lower()
    if isinstance(exc, pg_errors.InvalidCatalogName) or (
        "database" in lowered and "does not exist" in lowered
    ):
        return errors.DatabaseNotFoundError(f"{where}: {text}")
    if isinstance(
        exc, pg_errors.InvalidAuthorizationSpecification | pg_errors.InvalidPassword
    ) or any(
        s in lowered
        for s in (
            "password authentication failed",
            "no pg_hba.conf entry",
            "authentication failed",
            "password is required",
            "role",
        )
    ):
        return errors.AuthenticationFailedError(f"{where} refused the credentials: {text}")
    if "timeout expired" in lowered:
        return errors.ProbeTimeoutError(f"{where}: connection timed out")
    return errors.SourceUnreachableError(f"cannot connect to {where}: {text}")


async def probe_slot(
    connection: SourceConnection,
    *,
    slot_name: str,
    timeout_s: float = 15.0,
) -> retention.PgSlotObservation:
    """Read the slot's WAL retention state in one read-only session.

    Raises :class:`errors.SlotNotFoundError` when the slot does not exist, and the
    other :mod:`errors` types for connection, permission and time-outs.
    """

    async def read(conn: psycopg.AsyncConnection[dict[str, Any]]) -> retention.PgSlotObservation:
        version = conn.info.server_version
        cur = await conn.execute(slot_query(version), {"slot": slot_name})
        slot_row = await cur.fetchone()
        if slot_row is None:
            raise errors.SlotNotFoundError(
                f"PostgreSQL at {connection.address} has no replication slot named {slot_name!r}"
            )
        cur = await conn.execute(SETTINGS_QUERY)
        return observation_from_rows(slot_row, await cur.fetchall(), version)

    return await _with_connection(connection, read, timeout_s=timeout_s)


async def _with_connection(
    connection: SourceConnection,
    read: Callable[[psycopg.AsyncConnection[dict[str, Any]]], Awaitable[_T]],
    *,
    timeout_s: float,
) -> _T:
    """``read`` on a fresh read-only connection, the whole bounded by ``timeout_s``, errors mapped.

    A third of the bound for connecting and for each statement
    (``statement_timeout``), so one slow step still leaves an answer in time.
    """
    where = f"PostgreSQL at {connection.address}"
    try:
        async with asyncio.timeout(timeout_s):
            with _ca_file(connection.ca_cert) as ca_path:
                kwargs = _conninfo_kwargs(
                    connection,
                    connect_timeout_s=max(2, int(timeout_s / 3)),
                    statement_timeout_ms=int(timeout_s * 1000 / 3),
                    ca_path=ca_path,
                )
                try:
                    conn = await psycopg.AsyncConnection.connect(
                        make_conninfo("", **kwargs), autocommit=True, row_factory=dict_row
                    )
                except psycopg.OperationalError as exc:
                    raise _connect_error(exc, connection) from None
            async with conn:
                return await read(conn)
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except pg_errors.QueryCanceled:
        raise errors.ProbeTimeoutError(f"{where}: the slot query hit statement_timeout") from None
    except pg_errors.InsufficientPrivilege as exc:
        raise errors.PermissionDeniedError(f"{where}: {_text(exc, connection)}") from None
    except psycopg.OperationalError as exc:  # the connection broke mid-way
        raise errors.SourceUnreachableError(
            f"{where}: connection lost: {_text(exc, connection)}"
        ) from None
    except psycopg.Error as exc:
        raise errors.ProbeError(f"{where}: {_text(exc, connection)}") from None


# The job's backlog: WAL written since the last position the connector
# confirmed (what it still has to read), not what the slot retains
# (restart_lsn lags further behind, for the transactions still open).
BACKLOG_QUERY = """
    SELECT pg_wal_lsn_diff(
               CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                    ELSE pg_current_wal_lsn() END,
               s.confirmed_flush_lsn)::bigint AS backlog_bytes
      FROM pg_replication_slots s
     WHERE s.slot_name = %(slot)s
"""


async def probe_backlog(
    connection: SourceConnection, *, slot_name: str, timeout_s: float = 10.0
) -> int | None:
    """Bytes of WAL past the slot's ``confirmed_flush_lsn``: what the job has yet to read.

    None for a slot without a confirmed position (a physical slot, or one never
    used).  Errors as :func:`probe_slot` raises them.
    """

    async def read(conn: psycopg.AsyncConnection[dict[str, Any]]) -> int | None:
        cur = await conn.execute(BACKLOG_QUERY, {"slot": slot_name})
        row = await cur.fetchone()
        if row is None:
            raise errors.SlotNotFoundError(
                f"PostgreSQL at {connection.address} has no replication slot named {slot_name!r}"
            )
        return _opt_int(row["backlog_bytes"])

    return await _with_connection(connection, read, timeout_s=timeout_s)
