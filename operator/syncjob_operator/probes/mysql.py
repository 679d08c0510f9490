"""Read a MySQL or MariaDB server's binlog retention and what it still has (read-only, bounded).

Why this exists: a paused Debezium MySQL/MariaDB connector's events live in
binlog files, which the server purges after ``binlog_expire_logs_seconds``
(or ``expire_logs_days``). This module reads those settings and whether the
binary log is on, and (:func:`probe_binlog_server`) what the server still
has: its binlog files, the GTIDs before the oldest one (MariaDB's Gtid_list
event) or ``@@gtid_purged`` (MySQL), and the connected binlog readers the
account can see; :func:`syncjob_operator.decide.retention.mysql_bound`
turns them, with the connector's committed position, into a deadline or a
loss.

PyMySQL is synchronous, so the read runs in a worker thread
(``asyncio.to_thread``) with PyMySQL's own connect/read/write timeouts and an
overall ``asyncio.timeout``. Which variables exist depends on the server:
``binlog_expire_logs_seconds`` needs MySQL 8.0 or MariaDB 10.6;
``expire_logs_days`` is gone in MySQL 8.4. Each is read on its own so a
missing one reads as None.  What the server still has needs BINLOG MONITOR
(MariaDB 10.5+) or REPLICATION CLIENT (MySQL), as Debezium's account has:
without it that part reads as unreadable (the bound is then unchecked), not
as a failed probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pymysql

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors
from syncjob_operator.probes.connection import SourceConnection

_T = TypeVar("_T")

# MySQL/MariaDB client and server error numbers the probe maps.
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044
ER_BAD_DB = 1049
ER_UNKNOWN_SYSTEM_VARIABLE = 1193
ER_ERROR_WHEN_EXECUTING_COMMAND = 1220  # SHOW BINLOG EVENTS of a file purged meanwhile
ER_SPECIFIC_ACCESS_DENIED = 1227
CR_CONNECTION_ERROR = 2002
CR_CONN_HOST_ERROR = 2003
CR_UNKNOWN_HOST = 2005
CR_SERVER_GONE = 2006
CR_SERVER_LOST = 2013

VERSION_QUERY = "SELECT @@version, @@log_bin"
EXPIRE_SECONDS_QUERY = "SELECT @@global.binlog_expire_logs_seconds"
EXPIRE_DAYS_QUERY = "SELECT @@global.expire_logs_days"
BINARY_LOGS_QUERY = "SHOW BINARY LOGS"
# The oldest file's first events: Format_desc, then (MariaDB 10.0+) Gtid_list.
FIRST_EVENTS_QUERY = "SHOW BINLOG EVENTS IN %s LIMIT 3"
GTID_PURGED_QUERY = "SELECT @@global.gtid_purged"
PROCESSLIST_QUERY = "SHOW PROCESSLIST"
BINLOG_DUMP_COMMANDS = ("Binlog Dump", "Binlog Dump GTID")


def settings_from_values(
    *,
    version: str,
    log_bin: object,
    expire_logs_seconds: object | None,
    expire_logs_days: object | None,
) -> retention.BinlogSettings:
    """The settings from the raw variable values (pure: unit tests feed it recordings)."""
    flavor: retention.mysql.Flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
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


def gtid_list_of(events: Sequence[Sequence[object]]) -> str | None:
    """The GTIDs of the Gtid_list event among ``SHOW BINLOG EVENTS`` rows (``[0-1-13]``: 0-1-13)."""
    for row in events:
        if len(row) > 5 and row[2] == "Gtid_list":
            return str(row[5]).strip().removeprefix("[").removesuffix("]")
    return None


def readers_of(processlist: Sequence[Sequence[object]]) -> tuple[str, ...]:
    """The users of the binlog readers (``Binlog Dump`` threads) among ``SHOW PROCESSLIST`` rows."""
    return tuple(str(r[1]) for r in processlist if len(r) > 4 and r[4] in BINLOG_DUMP_COMMANDS)


def _code(exc: pymysql.err.MySQLError) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _server_state(
    cur: Any, *, flavor: retention.mysql.Flavor, account: str, redact: Callable[[str], str]
) -> retention.BinlogServerState:
    """What the server still has; a missing privilege reads as ``unreadable``, not as an error."""
    try:
        cur.execute(BINARY_LOGS_QUERY)
        files = tuple(str(row[0]) for row in cur.fetchall())
        oldest_gtid_list: str | None = None
        if flavor == "mariadb" and files:
            for _ in range(2):  # the oldest file may be purged between the two reads
                try:
                    cur.execute(FIRST_EVENTS_QUERY, (files[0],))
                except pymysql.err.MySQLError as exc:
                    if _code(exc) != ER_ERROR_WHEN_EXECUTING_COMMAND:
                        raise
                    cur.execute(BINARY_LOGS_QUERY)
                    files = tuple(str(row[0]) for row in cur.fetchall())
                    if not files:
                        break
                    continue
                oldest_gtid_list = gtid_list_of(cur.fetchall())
                break
        gtid_purged = _scalar(cur, GTID_PURGED_QUERY) if flavor == "mysql" else None
        cur.execute(PROCESSLIST_QUERY)
        readers = readers_of(cur.fetchall())
    except pymysql.err.MySQLError as exc:
        if _code(exc) not in (ER_SPECIFIC_ACCESS_DENIED, ER_DBACCESS_DENIED):
            raise
        detail = " ".join(str(exc.args[-1]).split())
        return retention.BinlogServerState(account=account, unreadable=redact(detail))
    return retention.BinlogServerState(
        files=files,
        oldest_gtid_list=oldest_gtid_list,
        gtid_purged=None if gtid_purged is None else str(gtid_purged),
        readers=readers,
        account=account,
    )


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


def _read(
    connection: SourceConnection, *, timeout_s: int, with_server: bool
) -> tuple[retention.BinlogSettings, retention.BinlogServerState | None]:
    conn = _connect(connection, timeout_s=timeout_s)
    with conn, conn.cursor() as cur:
        cur.execute(VERSION_QUERY)
        version, log_bin = cur.fetchone()
        settings = settings_from_values(
            version=str(version),
            log_bin=log_bin,
            expire_logs_seconds=_scalar(cur, EXPIRE_SECONDS_QUERY),
            expire_logs_days=_scalar(cur, EXPIRE_DAYS_QUERY),
        )
        if not with_server or not settings.log_bin:
            return settings, None
        return settings, _server_state(
            cur, flavor=settings.flavor, account=connection.user, redact=connection.redact
        )


def _error(exc: pymysql.err.MySQLError, connection: SourceConnection) -> errors.ProbeError:
    code = _code(exc)
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
    settings, _ = await _probe(connection, timeout_s=timeout_s, with_server=False)
    return settings


async def probe_binlog_server(
    connection: SourceConnection, *, timeout_s: float = 15.0
) -> tuple[retention.BinlogSettings, retention.BinlogServerState]:
    """:func:`probe_binlog`, and what the server still has, over one connection.

    Raises as :func:`probe_binlog` does; a missing privilege for the second
    part is in the state's ``unreadable``.
    """
    settings, server = await _probe(connection, timeout_s=timeout_s, with_server=True)
    assert server is not None  # read whenever log_bin is on, and _probe raises when it is off
    return settings, server


async def _in_thread(
    connection: SourceConnection, read: Callable[..., _T], *, timeout_s: float, **kwargs: Any
) -> _T:
    """``read(connection, timeout_s=..., **kwargs)`` in a worker thread, bounded, errors mapped.

    PyMySQL's own timeouts stop the thread; the outer one stops the waiting.
    """
    where = f"{connection.source_type} at {connection.address}"
    per_step = max(2, int(timeout_s / 3))
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(read, connection, timeout_s=per_step, **kwargs)
    except TimeoutError:
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
    except pymysql.err.MySQLError as exc:
        raise _error(exc, connection) from None
    except (OSError, ssl.SSLError) as exc:
        raise errors.SourceUnreachableError(
            f"cannot connect to {where}: {connection.redact(str(exc))}"
        ) from None


async def _probe(
    connection: SourceConnection, *, timeout_s: float, with_server: bool
) -> tuple[retention.BinlogSettings, retention.BinlogServerState | None]:
    settings, server = await _in_thread(
        connection, _read, timeout_s=timeout_s, with_server=with_server
    )
    if not settings.log_bin:
        raise errors.BinlogDisabledError(
            f"{connection.source_type} at {connection.address} has the binary log off "
            "(log_bin=OFF): CDC needs it on"
        )
    return settings, server


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
    return await _in_thread(connection, _binary_logs, timeout_s=timeout_s)
