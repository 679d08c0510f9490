"""Read a SQL Server database's CDC retention (read-only, bounded).

Why this exists: a paused Debezium SQL Server connector's events live in the
CDC change tables, which the database's CDC cleanup job purges once they are
older than its ``retention`` (minutes, default 4320 = 3 days). The deadline
is the commit time of the connector's offset LSN plus that retention
(docs/design.md); :func:`syncjob_operator.decide.retention.sqlserver_bound`
computes it from what :func:`probe_cdc_retention` reads.

python-tds (``pytds``, pure Python) is synchronous, so the read runs in a
worker thread (``asyncio.to_thread``) with the driver's own login and query
timeouts and an overall ``asyncio.timeout``. Two read-only queries, in the
database named in the connection Secret (which must be the CDC-enabled one:
``DB_ID()`` is the current database):

- ``msdb.dbo.cdc_jobs``: the cleanup job's ``retention``. Reading it needs
  SELECT on that msdb table, which a db_owner of the source database does not
  have by default (a permission error says so).
- ``sys.fn_cdc_map_lsn_to_time(commit_lsn)``: when the connector's offset
  position committed (server local time, turned into UTC with the server's
  current offset). NULL when ``cdc.lsn_time_mapping`` has no entry for that
  LSN, typically because cleanup already removed it.
- ``cdc.change_tables`` with ``sys.fn_cdc_get_min_lsn(capture_instance)``:
  the lowest LSN each capture instance still holds, which the cleanup moves
  forward; one past the offset's commit LSN means changes the job needs are
  gone (:func:`syncjob_operator.decide.retention.sqlserver_bound`).  Asked
  only with a commit LSN.  A login that may not read ``cdc.change_tables``
  (or a capture instance) leaves the deadline standing and the loss unknown,
  and the bound says so.

What was and was not run, plainly: no SQL Server can run where this was
written (no container runtime; not packaged for Debian), so **the queries and
the login have never run against a real SQL Server**. What is tested
(``tests/unit/probes/test_sqlserver_probe.py``): the row parsers and the bound on
recorded result rows (as pytds returns them: tuples and dicts), the loss read
from the capture instances' minimum LSNs on recorded rows, the LSN
validation (injection attempts rejected before any I/O), the mapping of
pytds's own exception types onto :mod:`errors` (with the password never in a
message), the prober's choice of the earliest commit LSN, and one piece of
real I/O: pytds really connecting to a closed local port, which must give
SourceUnreachable. Server behaviour described above is from Microsoft's
documentation, not from observation.

TLS: pytds encrypts only with pyOpenSSL installed and a CA file. When the
Secret asks for TLS (``ca.crt`` or ``sslmode`` require/verify-*) and
pyOpenSSL is missing, the probe refuses (``TlsUnavailable``) rather than log
in unencrypted. Without TLS, SQL logins send the password merely obfuscated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytds  # type: ignore[import-untyped]  # python-tds ships no type information

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, sqlserver_rows
from syncjob_operator.probes.connection import SourceConnection

APPLICATION_NAME = "syncjob-operator-probe"

# Run in the CDC-enabled database (DB_ID() is the current one). No row: the
# database has no cleanup job (CDC not enabled, or the job was dropped).
CLEANUP_RETENTION_SQL = (
    "SELECT retention FROM msdb.dbo.cdc_jobs WHERE job_type = N'cleanup' AND database_id = DB_ID()"
)

# Asked only when there is no cleanup row, to say why.
CDC_ENABLED_SQL = (
    "SELECT DB_NAME() AS database_name, is_cdc_enabled FROM sys.databases "
    "WHERE database_id = DB_ID()"
)

# %s is the commit LSN, passed as a 10-byte parameter (see sqlserver_rows.commit_lsn_bytes),
# never spliced into the text. fn_cdc_map_lsn_to_time answers in the server's
# local time; the offset (minutes east of UTC) turns it into an instant. NULL:
# the LSN is no longer (or not yet) in cdc.lsn_time_mapping.
COMMIT_TIME_SQL = (
    "SELECT sys.fn_cdc_map_lsn_to_time(CAST(%s AS binary(10))) AS commit_time, "
    "DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes"
)

# Every capture instance of the current database, the lowest LSN its change
# table still holds (0x00.. for an instance the login may not read), and when
# capture began (server local time, turned into UTC with the offset).
CAPTURE_INSTANCES_SQL = (
    "SELECT capture_instance, sys.fn_cdc_get_min_lsn(capture_instance) AS min_lsn, "
    "create_date, DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes "
    "FROM cdc.change_tables"
)

# SQL Server error numbers the probe maps.
LOGIN_FAILED = (18456, 18452, 18486, 18487, 18488)  # failed, untrusted domain, locked, expired
CANNOT_OPEN_DATABASE = 4060
PERMISSION_DENIED = (229, 230, 262, 297, 300, 916)


@dataclass(frozen=True)
class CdcObservation:
    """What :func:`probe_cdc_retention` read.

    ``commit_lsn`` is the offset's LSN as sent (10 bytes), ``cleanup`` the
    capture instances' minimum LSNs (None when no commit LSN was given, so
    nothing was compared).
    """

    retention_minutes: int | None
    commit_time: datetime | None
    commit_lsn: bytes | None = None
    cleanup: retention.CdcMinLsns | None = None


def _where(connection: SourceConnection) -> str:
    return f"sqlserver at {connection.address}"


def _detail(exc: BaseException, connection: SourceConnection) -> str:
    text = getattr(exc, "text", None) or str(exc) or type(exc).__name__
    return connection.redact(" ".join(str(text).split()))


def map_error(exc: BaseException, connection: SourceConnection) -> errors.ProbeError:
    """A pytds (or socket) exception as a :mod:`errors` type; the message never has the password.

    pytds retries a failed login until its login timeout and then raises
    TimeoutError *from* the last failure, so the cause decides: a refused
    connection is SourceUnreachable, not a time-out.
    """
    where = _where(connection)
    if isinstance(exc, TimeoutError):
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, TimeoutError):
            return map_error(cause, connection)
        return errors.ProbeTimeoutError(f"{where}: no answer in time")
    if isinstance(exc, pytds.DatabaseError):
        code = exc.msg_no or exc.number
        detail = _detail(exc, connection)
        if code in LOGIN_FAILED:
            return errors.AuthenticationFailedError(f"{where} refused the credentials: {detail}")
        if code == CANNOT_OPEN_DATABASE:
            return errors.DatabaseNotFoundError(
                f"{where}: the database does not exist or the login may not open it: {detail}"
            )
        if code in PERMISSION_DENIED:
            return errors.PermissionDeniedError(
                f"{where}: {detail} (the probe needs SELECT on msdb.dbo.cdc_jobs, i.e. a user "
                "in msdb with that grant)"
            )
        return errors.ProbeError(f"{where}: SQL Server error {code}: {detail}")
    if isinstance(exc, pytds.ClosedConnectionError):
        return errors.SourceUnreachableError(f"{where} closed the connection")
    if isinstance(exc, pytds.Error):
        detail = _detail(exc, connection)
        if "encryption" in detail.lower():
            return errors.SourceUnreachableError(
                f"{where}: {detail} (set ca.crt in the connection Secret for TLS)"
            )
        return errors.ProbeError(f"{where}: {detail}")
    if isinstance(exc, OSError):  # refused, unknown host, reset; ssl.SSLError is one too
        return errors.SourceUnreachableError(
            f"cannot connect to {where}: {_detail(exc, connection)}"
        )
    return errors.ProbeError(f"{where}: {type(exc).__name__}: {_detail(exc, connection)}")


@contextlib.contextmanager
def _tls(connection: SourceConnection) -> Iterator[tuple[str | None, bool]]:
    """(cafile, validate_host) for pytds: TLS only when the Secret asks for it."""
    mode = (connection.sslmode or "").lower()
    if not connection.ca_cert and mode in ("", "disable", "disabled", "prefer", "preferred"):
        yield None, False
        return
    if not pytds.tls.OPENSSL_AVAILABLE:
        raise errors.ProbeError(
            f"{_where(connection)}: the connection Secret asks for TLS, and TLS to SQL Server "
            "needs pyOpenSSL, which this operator does not include",
            reason="TlsUnavailable",
        )
    validate_host = mode not in ("require", "required", "verify-ca", "verify_ca")
    if not connection.ca_cert:
        system = ssl.get_default_verify_paths().cafile
        if system is None:
            raise errors.ProbeError(
                f"{_where(connection)}: TLS asked for, but there is no ca.crt in the connection "
                "Secret and no system CA file",
                reason="TlsUnavailable",
            )
        yield system, validate_host
        return
    fd, path = tempfile.mkstemp(prefix="syncjob-ca-", suffix=".crt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(connection.ca_cert)
        yield path, validate_host
    finally:
        os.unlink(path)


def _rows(cur: Any, sql: str, params: tuple[object, ...] = ()) -> list[sqlserver_rows.Row]:
    cur.execute(sql, params or None)
    return list(cur.fetchall())


def _read_mapped(
    connection: SourceConnection,
    *,
    commit_lsn: bytes | None,
    login_timeout_s: float,
    query_timeout_s: float,
) -> CdcObservation:
    """:func:`_read` with every driver error turned into an :mod:`errors` type (in the thread)."""
    try:
        return _read(
            connection,
            commit_lsn=commit_lsn,
            login_timeout_s=login_timeout_s,
            query_timeout_s=query_timeout_s,
        )
    except errors.ProbeError:
        raise
    except (pytds.Error, OSError) as exc:  # TimeoutError and socket errors are OSErrors
        raise map_error(exc, connection) from None
    except ValueError as exc:  # a result the parsers cannot read, or a bad host\instance
        raise errors.ProbeError(f"{_where(connection)}: {connection.redact(str(exc))}") from None


def _read(
    connection: SourceConnection,
    *,
    commit_lsn: bytes | None,
    login_timeout_s: float,
    query_timeout_s: float,
) -> CdcObservation:
    with _tls(connection) as (cafile, validate_host):
        conn = pytds.connect(
            dsn=connection.host,
            port=connection.port,
            database=connection.dbname,
            user=connection.user,
            password=connection.password or "",
            login_timeout=login_timeout_s,
            timeout=query_timeout_s,
            appname=APPLICATION_NAME,
            autocommit=True,
            as_dict=True,
            cafile=cafile,
            validate_host=validate_host,
        )
    with conn, conn.cursor() as cur:
        minutes = sqlserver_rows.retention_minutes_from_rows(_rows(cur, CLEANUP_RETENTION_SQL))
        if minutes is None:
            rows = _rows(cur, CDC_ENABLED_SQL)
            name = sqlserver_rows._cell(rows[0], "database_name", 0) if rows else connection.dbname
            enabled = bool(sqlserver_rows._cell(rows[0], "is_cdc_enabled", 1)) if rows else False
            if not enabled:
                raise errors.ProbeError(
                    f"{_where(connection)}: CDC is not enabled on database {name}; the "
                    "connection Secret must name the database the connector captures",
                    reason="CdcNotEnabled",
                )
            raise errors.ProbeError(
                f"{_where(connection)}: database {name} has CDC enabled but no cleanup job in "
                "msdb.dbo.cdc_jobs, so nothing says how long changes are kept; set "
                "spec.source.retention",
                reason="CdcCleanupJobMissing",
            )
        if commit_lsn is None:
            return CdcObservation(minutes, None)
        commit_time = sqlserver_rows.commit_time_from_rows(
            _rows(cur, COMMIT_TIME_SQL, (commit_lsn,))
        )
        return CdcObservation(minutes, commit_time, commit_lsn, _min_lsns(cur, connection))


def _min_lsns(cur: Any, connection: SourceConnection) -> retention.CdcMinLsns:
    """The capture instances' minimum LSNs; a login that may not read them, said plainly."""
    try:
        rows = _rows(cur, CAPTURE_INSTANCES_SQL)
    except pytds.DatabaseError as exc:
        if (exc.msg_no or exc.number) not in PERMISSION_DENIED:
            raise
        return retention.CdcMinLsns(
            unknown=f"the login may not read cdc.change_tables ({_detail(exc, connection)})"
        )
    return retention.CdcMinLsns(instances=sqlserver_rows.capture_instances_from_rows(rows))


async def probe_cdc_retention(
    connection: SourceConnection,
    *,
    commit_lsn: str | None,
    timeout_s: float = 15.0,
) -> CdcObservation:
    """Read the CDC cleanup retention (minutes), and the commit time of ``commit_lsn``
    and the capture instances' minimum LSNs to compare it with.

    ``commit_lsn`` is Debezium's offset value ("0000002b:00000a40:0003");
    None skips the queries that need it. It is validated before any I/O and
    sent as a binary parameter. The commit time is None when the server
    cannot map the LSN. Never returns None minutes: a database without a cleanup job
    raises ``CdcNotEnabled`` or ``CdcCleanupJobMissing`` (the handler then
    falls back to ``spec.source.retention``), since claiming "never purged"
    on a missing row would be a guess.

    NOT RUN AGAINST A REAL SQL SERVER: see the module docstring for what the
    unit tests cover (recorded rows, error mapping, a refused connection).
    """
    where = _where(connection)
    try:
        lsn = sqlserver_rows.commit_lsn_bytes(commit_lsn) if commit_lsn is not None else None
    except ValueError as exc:
        raise errors.ProbeError(f"{where}: {exc}", reason="InvalidCommitLsn") from None
    try:
        # The driver's timeouts stop the thread; the outer one stops the waiting.
        async with asyncio.timeout(timeout_s):
            return await asyncio.to_thread(
                _read_mapped,
                connection,
                commit_lsn=lsn,
                login_timeout_s=max(1.0, timeout_s / 2),
                query_timeout_s=max(1.0, timeout_s / 4),
            )
    except TimeoutError:  # only the outer bound: the thread maps its own time-outs
        raise errors.ProbeTimeoutError(f"{where}: no answer within {timeout_s:g}s") from None
