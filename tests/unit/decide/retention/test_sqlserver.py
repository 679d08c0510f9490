"""SQL Server retention from recorded rows, as no server runs here (decide.retention.sqlserver)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import sqlserver

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cleanup_rows", "time_rows", "deadline", "reason"),
    [
        # Default retention 4320 min (3 days) from the commit time.
        (
            [{"retention": 4320, "threshold": 5000}],
            [{"commit_time": datetime(2026, 11, 24, 9, 0), "utc_offset_minutes": 0}],
            datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
            "CdcCleanupRetention",
        ),
        # Server in UTC+1: local 10:00 is 09:00 UTC.
        (
            [{"retention": 60, "threshold": 5000}],
            [{"commit_time": datetime(2026, 11, 24, 10, 0), "utc_offset_minutes": 60}],
            datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
            "CdcCleanupRetention",
        ),
        # A driver that returns text.
        (
            [{"retention": "1440", "threshold": "5000"}],
            [{"commit_time": "2026-11-24T08:30:00", "utc_offset_minutes": "-300"}],
            datetime(2026, 11, 25, 13, 30, tzinfo=UTC),
            "CdcCleanupRetention",
        ),
        # The LSN no longer maps to a time: fall back to pausedAt (and say it may be late).
        (
            [{"retention": 4320, "threshold": 5000}],
            [{"commit_time": None, "utc_offset_minutes": 0}],
            T0 + timedelta(minutes=4320),
            "CdcCleanupRetention",
        ),
        # No cleanup job: nothing purges the change tables.
        (
            [],
            [{"commit_time": datetime(2026, 11, 24, 9, 0), "utc_offset_minutes": 0}],
            None,
            "NoCdcCleanupJob",
        ),
    ],
)
def test_sqlserver_bound_from_recorded_rows(
    cleanup_rows: list[dict[str, object]],
    time_rows: list[dict[str, object]],
    deadline: datetime | None,
    reason: str,
) -> None:
    bound = retention.sqlserver_bound(
        sqlserver.retention_minutes_from_rows(cleanup_rows),
        commit_time=sqlserver.commit_time_from_rows(time_rows),
        paused_at=T0,
    )
    assert bound.basis == retention.SQLSERVER_CLEANUP
    assert (bound.deadline, bound.reason, bound.lost) == (deadline, reason, False)


def test_sqlserver_fallback_message_says_it_may_be_late() -> None:
    bound = retention.sqlserver_bound(4320, commit_time=None, paused_at=T0)
    assert "late" in bound.message and bound.figures == {"retentionMinutes": 4320}


@pytest.mark.parametrize(
    ("lsn", "literal"),
    [
        ("0000002a:00000c38:0003", "0x0000002A00000C380003"),
        ("00000025:00000d98:0034", "0x0000002500000D980034"),
    ],
)
def test_sqlserver_commit_lsn_literal(lsn: str, literal: str) -> None:
    assert sqlserver.commit_lsn_literal(lsn) == literal
    assert sqlserver.offset_commit_lsn({"commit_lsn": lsn, "change_lsn": "x"}) == lsn


@pytest.mark.parametrize("lsn", ["", "2a:c38:3", "0000002a:00000c38", "0x0000002A00000C380003"])
def test_sqlserver_commit_lsn_literal_rejects(lsn: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL Server LSN"):
        sqlserver.commit_lsn_literal(lsn)


def test_sqlserver_rejects_a_nonsense_retention() -> None:
    with pytest.raises(ValueError, match="positive"):
        sqlserver.retention_minutes_from_rows([{"retention": 0}])
