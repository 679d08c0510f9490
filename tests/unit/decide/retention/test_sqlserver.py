"""SQL Server retention from recorded rows, as no server runs here (decide.retention.sqlserver)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import sqlserver_rows

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
        sqlserver_rows.retention_minutes_from_rows(cleanup_rows),
        commit_time=sqlserver_rows.commit_time_from_rows(time_rows),
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
    assert sqlserver_rows.commit_lsn_literal(lsn) == literal
    assert sqlserver_rows.offset_commit_lsn({"commit_lsn": lsn, "change_lsn": "x"}) == lsn


@pytest.mark.parametrize("lsn", ["", "2a:c38:3", "0000002a:00000c38", "0x0000002A00000C380003"])
def test_sqlserver_commit_lsn_literal_rejects(lsn: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL Server LSN"):
        sqlserver_rows.commit_lsn_literal(lsn)


def test_sqlserver_rejects_a_nonsense_retention() -> None:
    with pytest.raises(ValueError, match="positive"):
        sqlserver_rows.retention_minutes_from_rows([{"retention": 0}])


# --- the loss, read from the capture instances' minimum LSNs -------------------------

OFFSET = bytes.fromhex("0000002B00000A400003")  # the job's commit LSN, 0000002b:00000a40:0003
BEFORE = bytes.fromhex("0000002A00000C380003")
PAST = bytes.fromhex("0000002C000000100000")
COMMIT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def instance(
    name: str, min_lsn: bytes | None, created: datetime | None = datetime(2026, 11, 1, tzinfo=UTC)
) -> retention.CaptureInstance:
    return retention.CaptureInstance(name, min_lsn, created)


@pytest.mark.parametrize(
    ("instances", "lost", "checked", "named"),
    [
        # Every instance still holds changes from before the offset, or from it exactly.
        ([instance("dbo_orders", BEFORE), instance("dbo_items", OFFSET)], False, True, None),
        # One past the offset: the cleanup removed changes the job needs (conservative:
        # whichever table it is).
        ([instance("dbo_orders", BEFORE), instance("dbo_items", PAST)], True, True, "dbo_items"),
        # Capture began after the offset's commit: its table had no change log before,
        # nothing of it was purged.
        (
            [
                instance("dbo_orders", BEFORE),
                instance("dbo_new", PAST, COMMIT + timedelta(hours=1)),
            ],
            False,
            True,
            None,
        ),
        # An instance the login may not read (min LSN 0): not known, so not checked.
        ([instance("dbo_orders", BEFORE), instance("dbo_secret", None)], False, False, None),
        # ...but one that is readable and past is a loss all the same.
        ([instance("dbo_secret", None), instance("dbo_items", PAST)], True, True, "dbo_items"),
        # No capture instances: nothing to check.
        ([], False, False, None),
    ],
)
def test_sqlserver_loss_from_min_lsns(
    instances: list[retention.CaptureInstance], lost: bool, checked: bool, named: str | None
) -> None:
    bound = retention.sqlserver_bound(
        4320,
        commit_time=COMMIT,
        paused_at=T0,
        commit_lsn=OFFSET,
        cleanup=retention.CdcMinLsns(instances=tuple(instances)),
    )
    assert (bound.lost, bound.checked) == (lost, checked)
    if lost:
        assert (bound.reason, bound.deadline) == ("CdcChangesPurged", None)
        assert bound.figures["captureInstance"] == named
        assert f"capture instance {named} starts at LSN 0000002c:00000010:0000" in bound.message
        assert "past the job's position 0000002b:00000a40:0003" in bound.message
        assert "new snapshot" in bound.message
    else:
        assert bound.reason == "CdcCleanupRetention"
        assert bound.deadline == COMMIT + timedelta(minutes=4320)
    if not checked and instances:
        assert "dbo_secret" in bound.message and "not known" in bound.message


def test_sqlserver_unchecked_without_a_position_or_the_instances() -> None:
    instances = retention.CdcMinLsns(instances=(instance("dbo_items", PAST),))
    # No commit LSN: nothing to compare the minimum LSNs with.
    no_lsn = retention.sqlserver_bound(4320, commit_time=None, paused_at=T0, cleanup=instances)
    assert (no_lsn.lost, no_lsn.checked) == (False, False)
    # The instances could not be read: the deadline stands, and the message says why.
    denied = retention.sqlserver_bound(
        4320,
        commit_time=COMMIT,
        paused_at=T0,
        commit_lsn=OFFSET,
        cleanup=retention.CdcMinLsns(unknown="the login may not read cdc.change_tables"),
    )
    assert (denied.lost, denied.checked) == (False, False)
    assert denied.deadline == COMMIT + timedelta(minutes=4320)
    assert "not known: the login may not read cdc.change_tables" in denied.message
    # A checked bound: past its deadline it is a risk, not a loss; unchecked, the deadline is.
    checked = retention.sqlserver_bound(
        60,
        commit_time=COMMIT,
        paused_at=T0,
        commit_lsn=OFFSET,
        cleanup=retention.CdcMinLsns(instances=(instance("dbo_orders", BEFORE),)),
    )
    later = COMMIT + timedelta(hours=2)
    assert checked.checked and not checked.lost_at(later)
    assert denied.lost_at(COMMIT + timedelta(minutes=4320))


def test_sqlserver_loss_without_a_cleanup_job() -> None:
    # Change rows removed by hand (sys.sp_cdc_cleanup_change_table) are as gone.
    bound = retention.sqlserver_bound(
        None,
        commit_time=COMMIT,
        paused_at=T0,
        commit_lsn=OFFSET,
        cleanup=retention.CdcMinLsns(instances=(instance("dbo_items", PAST),)),
    )
    assert (bound.lost, bound.reason) == (True, "CdcChangesPurged")


def test_lsn_text() -> None:
    assert retention.lsn_text(OFFSET) == "0000002b:00000a40:0003"
    assert sqlserver_rows.commit_lsn_bytes(retention.lsn_text(OFFSET)) == OFFSET
