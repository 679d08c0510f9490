"""SQL Server: how long the CDC cleanup job keeps change-table rows, and whether it took some.

A paused Debezium SQL Server connector's events live in the CDC change tables,
which the cleanup job purges once they are older than its ``retention``
(minutes); the deadline counts from the commit time of the connector's
offset.  The server also says what it still has: each capture instance's
minimum LSN (``sys.fn_cdc_get_min_lsn``), which the cleanup moves forward.
One past the offset's commit LSN means changes the job needs are gone.
Recorded query results only: no SQL Server runs where this is tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.decide.retention.combine import Figure, RetentionBound

SQLSERVER_CLEANUP = "sqlserver:cdc_cleanup_retention"


@dataclass(frozen=True)
class CaptureInstance:
    """One capture instance of the database (``cdc.change_tables``) and its minimum LSN.

    ``min_lsn`` None: the server answered ``0x00000000000000000000``, which
    ``fn_cdc_get_min_lsn`` does for an instance that does not exist or that
    the login may not read.  ``created`` (UTC) is when capture began.
    """

    name: str
    min_lsn: bytes | None
    created: datetime | None = None


@dataclass(frozen=True)
class CdcMinLsns:
    """What the change tables still hold, or why that was not read (``unknown``)."""

    instances: tuple[CaptureInstance, ...] = ()
    unknown: str = ""


def lsn_text(lsn: bytes) -> str:
    """An LSN as Debezium writes it: hex 8:8:4 ("0000002b:00000a40:0003")."""
    h = lsn.hex()
    return f"{h[:8]}:{h[8:16]}:{h[16:]}"


def _cleanup_loss(
    commit_lsn: bytes | None, cleanup: CdcMinLsns | None, commit_time: datetime | None
) -> tuple[CaptureInstance | None, bool]:
    """(the instance whose minimum LSN is past the offset, whether the check could be made).

    Conservative: any instance past the offset lost changes the job needs,
    whether or not its table is one the connector captures.  Only an instance
    created after the offset's commit is left out: its table had no change
    log before, so nothing of it was purged.
    """
    if commit_lsn is None or cleanup is None or cleanup.unknown or not cleanup.instances:
        return None, False
    relevant = [
        i
        for i in cleanup.instances
        if commit_time is None or i.created is None or i.created <= commit_time
    ]
    past = [i for i in relevant if i.min_lsn is not None and i.min_lsn > commit_lsn]
    if past:
        return max(past, key=lambda i: (i.min_lsn or b"", i.name)), True
    return None, all(i.min_lsn is not None for i in relevant)


def sqlserver_bound(
    retention_minutes: int | None,
    *,
    commit_time: datetime | None,
    paused_at: datetime,
    commit_lsn: bytes | None = None,
    cleanup: CdcMinLsns | None = None,
) -> RetentionBound:
    """deadline = commit time of the connector's offset LSN + the CDC cleanup retention.

    ``retention_minutes`` None: the database has no CDC cleanup job, so
    nothing is purged automatically. ``commit_time`` (from
    ``sys.fn_cdc_map_lsn_to_time`` of the offset's commit_lsn) None falls back
    to ``paused_at``, which is later: say so.

    Lost when a capture instance's minimum LSN (``cleanup``) is past
    ``commit_lsn``, the offset's position: the cleanup removed changes the job
    has not read.  The bound is ``checked`` when both were read and every
    instance's minimum LSN was readable; then a deadline passed is a risk, and
    only that is a loss.
    """
    gone, checked = _cleanup_loss(commit_lsn, cleanup, commit_time)
    figures: dict[str, Figure] = {}
    if retention_minutes is not None:
        figures["retentionMinutes"] = retention_minutes
    if gone is not None and gone.min_lsn is not None and commit_lsn is not None:
        return RetentionBound(
            SQLSERVER_CLEANUP,
            None,
            True,
            "CdcChangesPurged",
            f"The CDC cleanup removed changes the job needs: capture instance {gone.name} "
            f"starts at LSN {lsn_text(gone.min_lsn)}, past the job's position "
            f"{lsn_text(commit_lsn)}; those events are gone and the job needs a new snapshot.",
            {**figures, "captureInstance": gone.name},
            checked=True,
        )
    unchecked = ""
    if cleanup is not None and cleanup.unknown:
        unchecked = (
            f" Whether the cleanup passed the job's position is not known: {cleanup.unknown}."
        )
    elif commit_lsn is not None and cleanup is not None and not checked and cleanup.instances:
        unreadable = sorted(i.name for i in cleanup.instances if i.min_lsn is None)
        unchecked = (
            " Whether the cleanup passed the job's position is not known for capture instance "
            f"{', '.join(unreadable)} (fn_cdc_get_min_lsn answered 0: no such instance, or the "
            "login may not read it)."
        )
    if retention_minutes is None:
        return RetentionBound(
            SQLSERVER_CLEANUP,
            None,
            False,
            "NoCdcCleanupJob",
            "The database has no CDC cleanup job: change tables are not purged." + unchecked,
            checked=checked,
        )
    retention = timedelta(minutes=retention_minutes)
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
        f"CDC cleanup keeps {units.format_duration(retention)} of changes; {why}." + unchecked,
        figures,
        checked=checked,
    )
