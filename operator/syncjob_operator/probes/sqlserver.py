"""SQL Server CDC retention: the queries, and parsers for their results.

Why this exists: a paused Debezium SQL Server connector's events live in the
CDC change tables, which the database's CDC cleanup job purges once they are
older than its ``retention`` (minutes, default 4320 = 3 days). The deadline
is the commit time of the connector's offset LSN plus that retention
(DESIGN.md section 3).

What is here, honestly: the SQL text and pure parsers of its result rows,
unit-tested against recorded rows. There is no I/O function: no SQL Server
driver is among the operator's dependencies and no SQL Server can run in our
test environment, so a client here would be code nobody has run. The handler
can use :data:`CLEANUP_RETENTION_SQL` and :data:`COMMIT_TIME_SQL` once a driver
(e.g. pymssql) is added and tested against a real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

# Run in the CDC-enabled database (DB_ID() is the current one). No row: the
# database has no cleanup job, so change tables are never purged.
CLEANUP_RETENTION_SQL = (
    "SELECT retention, threshold FROM msdb.dbo.cdc_jobs "
    "WHERE job_type = N'cleanup' AND database_id = DB_ID()"
)

# %s is the commit LSN as a 0x... binary literal (see commit_lsn_literal).
# fn_cdc_map_lsn_to_time answers in the server's local time; the offset
# (minutes east of UTC) turns it into an instant. NULL: the LSN is no longer
# (or not yet) in cdc.lsn_time_mapping, i.e. older than what cleanup kept.
COMMIT_TIME_SQL = (
    "SELECT sys.fn_cdc_map_lsn_to_time(CONVERT(binary(10), %s, 1)) AS commit_time, "
    "DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes, "
    "sys.fn_cdc_get_min_lsn_time() AS min_time"
)

_DEBEZIUM_LSN = re.compile(r"^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$")


def commit_lsn_literal(lsn: str) -> str:
    """Debezium's ``commit_lsn`` ("0000002a:00000c38:0003") as a binary(10) literal."""
    match = _DEBEZIUM_LSN.match(lsn.strip())
    if not match:
        raise ValueError(
            f"invalid SQL Server LSN {lsn!r}: expected hex 8:8:4, e.g. 0000002a:00000c38:0003"
        )
    return "0x" + "".join(match.groups()).upper()


def offset_commit_lsn(offset: Mapping[str, object]) -> str | None:
    """The ``commit_lsn`` of a Debezium SQL Server source offset, if it has one."""
    value = offset.get("commit_lsn")
    return str(value) if value else None


def retention_minutes_from_rows(rows: Sequence[Mapping[str, object]]) -> int | None:
    """The cleanup job's retention in minutes; None when there is no cleanup job."""
    if not rows:
        return None
    value = rows[0].get("retention")
    if value is None:
        return None
    minutes = int(str(value))
    if minutes <= 0:
        raise ValueError(f"cdc_jobs.retention is {minutes}: expected a positive number of minutes")
    return minutes


def commit_time_from_rows(rows: Sequence[Mapping[str, object]]) -> datetime | None:
    """The offset's commit time as an aware UTC datetime; None when the server cannot map it."""
    if not rows:
        return None
    value = rows[0].get("commit_time")
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"commit_time is {type(value).__name__}, expected a datetime")
    if value.tzinfo is None:
        offset = int(str(rows[0].get("utc_offset_minutes") or 0))
        value = value.replace(tzinfo=timezone(timedelta(minutes=offset)))
    return value.astimezone(UTC)
