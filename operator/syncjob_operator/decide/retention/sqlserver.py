"""SQL Server: how long the CDC cleanup job keeps change-table rows.

A paused Debezium SQL Server connector's events live in the CDC change tables,
which the cleanup job purges once they are older than its ``retention``
(minutes); the deadline counts from the commit time of the connector's
offset.  Recorded query results only: no SQL Server runs where this is tested.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.decide.retention.combine import Figure, RetentionBound

SQLSERVER_CLEANUP = "sqlserver:cdc_cleanup_retention"


def sqlserver_bound(
    retention_minutes: int | None, *, commit_time: datetime | None, paused_at: datetime
) -> RetentionBound:
    """deadline = commit time of the connector's offset LSN + the CDC cleanup retention.

    ``retention_minutes`` None: the database has no CDC cleanup job, so
    nothing is purged automatically. ``commit_time`` (from
    ``sys.fn_cdc_map_lsn_to_time`` of the offset's commit_lsn) None falls back
    to ``paused_at``, which is later: say so.
    """
    if retention_minutes is None:
        return RetentionBound(
            SQLSERVER_CLEANUP,
            None,
            False,
            "NoCdcCleanupJob",
            "The database has no CDC cleanup job: change tables are not purged.",
        )
    retention = timedelta(minutes=retention_minutes)
    figures: dict[str, Figure] = {"retentionMinutes": retention_minutes}
    if commit_time is None:
        anchor = paused_at
        why = "the offset's commit time is unknown, so this counts from the pause and may be late"
    else:
        anchor = commit_time
        why = f"the job's position was committed at {commit_time.isoformat()}"
    return RetentionBound(
        SQLSERVER_CLEANUP,
        anchor + retention,
        False,
        "CdcCleanupRetention",
        f"CDC cleanup keeps {units.format_duration(retention)} of changes; {why}.",
        figures,
    )
