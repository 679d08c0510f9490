"""Oracle redo retention: the queries, and parsers for their results.

Why this exists: Oracle's archived redo logs are kept by the DBA's policy
(RMAN, or ``archivelog retention hours`` on Amazon RDS), which the database
cannot state as a deadline in general, so spec.source.retention is required
for Oracle. Two things can still be read and are parsed here: the RDS
setting, and the oldest SCN still available in online or archived redo,
which tells whether the connector's offset SCN is already gone.

What is here, honestly: SQL text and pure parsers, unit-tested against
recorded rows. No I/O: no Oracle driver is among the dependencies and no
Oracle database runs in our test environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Amazon RDS for Oracle only (the rdsadmin schema does not exist elsewhere).
RDS_ARCHIVELOG_RETENTION_SQL = (
    "SELECT name, value FROM rdsadmin.rds_configuration WHERE name = 'archivelog retention hours'"
)

# The oldest change still readable by LogMiner: online logs plus archived
# logs that have not been deleted.
OLDEST_AVAILABLE_SCN_SQL = (
    "SELECT MIN(first_change#) AS oldest_scn FROM ("
    " SELECT first_change# FROM v$log"
    " UNION ALL"
    " SELECT first_change# FROM v$archived_log WHERE deleted = 'NO' AND status = 'A')"
)


def rds_retention_hours_from_rows(rows: Sequence[Mapping[str, object]]) -> int | None:
    """``archivelog retention hours``; None when unset (RDS stores NULL or 0 for "not kept")."""
    for row in rows:
        if str(row.get("name", "")).lower() == "archivelog retention hours":
            value = row.get("value")
            if value is None or str(value).strip() in ("", "0"):
                return None
            return int(str(value).strip())
    return None


def oldest_scn_from_rows(rows: Sequence[Mapping[str, object]]) -> int | None:
    """The oldest SCN still in online or archived redo; None when the view was empty."""
    if not rows:
        return None
    value = rows[0].get("oldest_scn")
    return None if value is None else int(str(value))


def offset_scn(offset: Mapping[str, object]) -> int | None:
    """The SCN a Debezium Oracle source offset restarts from (``scn``; ``commit_scn`` is later)."""
    value = offset.get("scn")
    return None if value in (None, "") else int(str(value))
