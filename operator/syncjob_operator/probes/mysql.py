"""Read a MySQL or MariaDB server's binlog retention (read-only, bounded).

Why this exists: a paused Debezium MySQL/MariaDB connector's events live in
binlog files, which the server purges after ``binlog_expire_logs_seconds``
(or ``expire_logs_days``). This module reads those settings and whether the
binary log is on; :func:`syncjob_operator.decide.retention.mysql_bound`
turns them into a deadline.

PyMySQL is synchronous, so the read runs in a worker thread
(``asyncio.to_thread``) with PyMySQL's own connect/read/write timeouts and an
overall ``asyncio.timeout``. Which variables exist depends on the server:
``binlog_expire_logs_seconds`` needs MySQL 8.0 or MariaDB 10.6;
``expire_logs_days`` is gone in MySQL 8.4. Each is read on its own so a
missing one reads as None.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from typing import Any, Literal

import pymysql

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors
from syncjob_operator.probes.connection import SourceConnection

# MySQL/MariaDB client and server error numbers the probe maps.
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044
ER_BAD_DB = 1049
ER_UNKNOWN_SYSTEM_VARIABLE = 1193
ER_SPECIFIC_ACCESS_DENIED = 1227
CR_CONNECTION_ERROR = 2002
CR_CONN_HOST_ERROR = 2003
CR_UNKNOWN_HOST = 2005
CR_SERVER_GONE = 2006
CR_SERVER_LOST = 2013

VERSION_QUERY = "SELECT @@version, @@log_bin"
EXPIRE_SECONDS_QUERY = "SELECT @@global.binlog_expire_logs_seconds"
EXPIRE_DAYS_QUERY = "SELECT @@global.expire_logs_days"


def settings_from_values(
    *,
    version: str,
    log_bin: object,
    expire_logs_seconds: object | None,
    expire_logs_days: object | None,
) -> retention.BinlogSettings:
    """The settings from the raw variable values (pure: unit tests feed it recordings)."""
    flavor: Literal["mysql", "mariadb"] = "mariadb" if "mariadb" in version.lower() else "mysql"
    return retention.BinlogSettings(
        flavor=flavor,
        version=version,
        log_bin=str(log_bin).upper() in ("1", "ON", "TRUE"),
        expire_logs_seconds=None if expire_logs_seconds is None else int(str(expire_logs_seconds)),
        expire_logs_days=None if expire_logs_days is None else float(str(expire_logs_days)),
    )


@contextlib.contextmanager
def _ssl_context(connection: SourceConnection) -> Iterator[ssl.SSLContext | None]:
    """TLS when the Secret asks for it (sslmode require/verify-*) or brings a CA."""
    mode = (connection.sslmode or "").lower()
    if not connection.ca_cert and mode in ("", "disable", "disabled", "prefer", "preferred"):
        yield None
        return
    ctx = ssl.create_default_context()
    if connection.ca_cert:
        ctx.load_verify_locations(cadata=connection.ca_cert)
    if mode in ("require", "required"):  # encryption without verification, as libpq means it
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif mode in ("verify-ca", "verify_ca"):
        ctx.check_hostname = False
    yield ctx


def _scalar(cur: Any, query: str) -> object | None:
    """One value, or None when the server does not know the variable."""
    try:
        cur.execute(query)
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == ER_UNKNOWN_SYSTEM_VARIABLE:
            return None
        raise
    row = cur.fetchone()
    return None if row is None else row[0]


def _connect(connection: SourceConnection, *, timeout_s: int) -> pymysql.Connection[Any]:
    with _ssl_context(connection) as ctx:
        return pymysql.connect(
            host=connection.host,
            port=connection.port,
            user=connection.user,
            password=connection.password or "",
            database=connection.dbname,
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            write_timeout=timeout_s,
            ssl=ctx,
            autocommit=True,
            program_name="syncjob-operator-probe",
        )


def _read(connection: SourceConnection, *, timeout_s: int) -> retention.BinlogSettings:
    conn = _connect(connection, timeout_s=timeout_s)
    with conn, conn.cursor() as cur:
        cur.execute(VERSION_QUERY)
        version, log_bin = cur.fetchone()
        return settings_from_values(
            version=str(version),
            log_bin=log_bin,
            expire_logs_seconds=_scalar(cur, EXPIRE_SECONDS_QUERY),
            expire_logs_days=_scalar(cur, EXPIRE_DAYS_QUERY),
        )


def _error(exc: pymysql.err.MySQLError, connection: SourceConnection) -> errors.ProbeError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    detail = connection.redact(" ".join(str(exc.args[-1] if exc.args else exc).split()))
    where = f"{connection.source_type} at {connection.address}"
    if code in (ER_ACCESS_DENIED,):
        return errors.AuthenticationFailedError(f"{where} refused the credentials: {detail}")
    if code in (ER_DBACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED):
        return errors.PermissionDeniedError(f"{where}: {detail}")
    if code == ER_BAD_DB:
        return errors.DatabaseNotFoundError(f"{where}: {detail}")
    if code in (CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST):
        if "timed out" in detail.lower():
            return errors.ProbeTimeoutError(f"{where}: connection timed out")
        return errors.SourceUnreachableError(f"cannot connect to {where}: {detail}")
    if code in (CR_SERVER_GONE, CR_SERVER_LOST):
        return errors.ProbeTimeoutError(f"{where}: connection lost or timed out: {detail}")
    return errors.ProbeError(f"{where}: {detail}")


async def probe_binlog(
    connection: SourceConnection, *, timeout_s: float = 15.0
) -> retention.BinlogSettings:
    """Read ``@@log_bin``, ``@@binlog_expire_logs_seconds`` and ``@@expire_logs_days``.

    Raises :class:`errors.BinlogDisabledError` when the binary log is off
    (there is nothing to retain and CDC cannot work), and the other
    :mod:`errors` types for connection, permission and time-outs.
    """
    where = f"{connection.source_type} at {connection.address}"
    # PyMySQL's own timeouts stop the thread; the outer one stops the waiting.
    per_step = max(2, int(timeout_s / 3))
    try:
        async with asyncio.timeout(timeout_s):
            settings = await asyncio.to_thread(_read, connection, timeout_s=per_step)
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except pymysql.err.MySQLError as exc:
        raise _error(exc, connection) from None
    except (OSError, ssl.SSLError) as exc:
        raise errors.SourceUnreachableError(
            f"cannot connect to {where}: {connection.redact(str(exc))}"
        ) from None
    if not settings.log_bin:
        raise errors.BinlogDisabledError(
            f"{where} has the binary log off (log_bin=OFF): CDC needs it on"
        )
    return settings


def _binary_logs(connection: SourceConnection, *, timeout_s: int) -> list[tuple[str, int]]:
    conn = _connect(connection, timeout_s=timeout_s)
    with conn, conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(str(row[0]), int(row[1])) for row in cur.fetchall()]


async def probe_binary_logs(
    connection: SourceConnection, *, timeout_s: float = 10.0
) -> list[tuple[str, int]]:
    """``SHOW BINARY LOGS``: each binlog file and its size, oldest first.

    Needs REPLICATION CLIENT (MySQL) or BINLOG MONITOR (MariaDB 10.5+), which
    a Debezium account has; errors as :func:`probe_binlog` raises them.
    """
    where = f"{connection.source_type} at {connection.address}"
    per_step = max(2, int(timeout_s / 3))
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(_binary_logs, connection, timeout_s=per_step)
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except pymysql.err.MySQLError as exc:
        raise _error(exc, connection) from None
    except (OSError, ssl.SSLError) as exc:
        raise errors.SourceUnreachableError(
            f"cannot connect to {where}: {connection.redact(str(exc))}"
        ) from None
