"""MySQL and MariaDB retention: the binlog expiry as a bound (decide.retention.mysql)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjob_operator.decide import conditions, retention
from syncjob_operator.probes import mysql

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def at(moment: datetime, **offset: Any) -> retention.BinlogPosition:
    """A committed position whose last event has the source time ``moment``."""
    return retention.BinlogPosition(
        **{"file": "binlog.000001", "pos": 4, "ts_sec": int(moment.timestamp()), **offset}
    )


@pytest.mark.parametrize(
    ("values", "flavor", "basis", "expire", "deadline", "reason"),
    [
        # MySQL 8.0 default: 30 days.
        (
            {
                "version": "8.0.36",
                "log_bin": 1,
                "expire_logs_seconds": 2592000,
                "expire_logs_days": 0,
            },
            "mysql",
            retention.MYSQL_EXPIRE,
            2592000,
            T0 + timedelta(days=30),
            "BinlogExpiry",
        ),
        # MySQL 8.4: expire_logs_days is gone (None).
        (
            {
                "version": "8.4.3",
                "log_bin": 1,
                "expire_logs_seconds": 86400,
                "expire_logs_days": None,
            },
            "mysql",
            retention.MYSQL_EXPIRE,
            86400,
            T0 + timedelta(days=1),
            "BinlogExpiry",
        ),
        # MySQL 5.7: only expire_logs_days.
        (
            {
                "version": "5.7.44-log",
                "log_bin": "1",
                "expire_logs_seconds": None,
                "expire_logs_days": 7,
            },
            "mysql",
            retention.MYSQL_EXPIRE,
            7 * 86400,
            T0 + timedelta(days=7),
            "BinlogExpiry",
        ),
        # MariaDB 10.11 (as read from the real server): the two are one setting, days fractional.
        (
            {
                "version": "10.11.19-MariaDB-0+deb12u1-log",
                "log_bin": 1,
                "expire_logs_seconds": 3600,
                "expire_logs_days": "0.041667",
            },
            "mariadb",
            retention.MARIADB_EXPIRE,
            3600,
            T0 + timedelta(hours=1),
            "BinlogExpiry",
        ),
        # MariaDB 10.5: no binlog_expire_logs_seconds, fractional days.
        (
            {
                "version": "10.5.23-MariaDB",
                "log_bin": 1,
                "expire_logs_seconds": None,
                "expire_logs_days": "0.5",
            },
            "mariadb",
            retention.MARIADB_EXPIRE,
            43200,
            T0 + timedelta(hours=12),
            "BinlogExpiry",
        ),
        # Both zero: never purged automatically.
        (
            {
                "version": "10.11.6-MariaDB",
                "log_bin": 1,
                "expire_logs_seconds": 0,
                "expire_logs_days": "0.000000",
            },
            "mariadb",
            retention.MARIADB_EXPIRE,
            0,
            None,
            "BinlogNeverExpires",
        ),
    ],
)
def test_mysql_bound(
    values: dict[str, Any],
    *,
    flavor: str,
    basis: str,
    expire: int,
    deadline: datetime | None,
    reason: str,
) -> None:
    settings = mysql.settings_from_values(**values)
    assert settings.flavor == flavor
    bound = retention.mysql_bound(settings, paused_at=T0)
    assert (bound.basis, bound.reason, bound.lost, bound.deadline) == (
        basis,
        reason,
        False,
        deadline,
    )
    assert bound.figures["expireSeconds"] == expire


def test_mysql_bound_counts_from_the_position_when_the_connector_lagged() -> None:
    settings = mysql.settings_from_values(
        version="8.0.36", log_bin="ON", expire_logs_seconds=3600, expire_logs_days=None
    )
    lagged = retention.mysql_bound(
        settings, paused_at=T0, positions=[at(T0 - timedelta(minutes=10))]
    )
    assert lagged.deadline == T0 + timedelta(minutes=50)
    ahead = retention.mysql_bound(settings, paused_at=T0, positions=[at(T0 + timedelta(minutes=1))])
    assert ahead.deadline == T0 + timedelta(hours=1)  # never later than pausedAt + expiry


def test_mysql_bound_without_binlog_is_lost() -> None:
    settings = mysql.settings_from_values(
        version="8.0.36", log_bin=0, expire_logs_seconds=3600, expire_logs_days=None
    )
    bound = retention.mysql_bound(settings, paused_at=T0)
    assert bound.lost and bound.reason == "BinlogDisabled"


# --- the committed position, as Debezium's offsets hold it --------------------


@pytest.mark.parametrize(
    ("offset", "position"),
    [
        # Debezium MariaDB 3.5.0, as read from the real pipeline (tests/env/README-mariadb.md).
        (
            {
                "ts_sec": 1796174324,
                "file": "binlog.000001",
                "pos": 24773,
                "gtids": "0-1-8",
                "snapshot": "INITIAL",
            },
            retention.BinlogPosition("binlog.000001", 24773, "0-1-8", 1796174324),
        ),
        (
            {
                "ts_sec": 1796174324,
                "file": "binlog.000001",
                "pos": 4,
                "gtids": "0-1-8",
                "server_id": 1,
            },
            retention.BinlogPosition("binlog.000001", 4, "0-1-8", 1796174324),
        ),
        (
            {
                "ts_sec": 1796174346,
                "file": "binlog.000001",
                "pos": 25308,
                "gtids": "0-1-10",
                "row": 3,
                "server_id": 1,
                "event": 2,
            },
            retention.BinlogPosition("binlog.000001", 25308, "0-1-10", 1796174346),
        ),
        # MySQL without GTIDs; numbers as strings; ts_sec 0 is unknown.
        (
            {"file": "mysql-bin.000003", "pos": "154", "ts_sec": 0},
            retention.BinlogPosition("mysql-bin.000003", 154, None, None),
        ),
        (
            {"file": "mysql-bin.000003", "pos": 154, "gtids": " "},
            retention.BinlogPosition("mysql-bin.000003", 154),
        ),
        # Not a binlog position: PostgreSQL's and SQL Server's offsets.
        ({"lsn": 24023128, "txId": 555, "ts_usec": 1796174346000000}, None),
        ({"commit_lsn": "00000025:00000d28:0003", "change_lsn": "00000025:00000d28:0002"}, None),
        ({}, None),
    ],
)
def test_offset_position(offset: dict[str, Any], position: retention.BinlogPosition | None) -> None:
    assert retention.offset_position(offset) == position


def test_position_time_and_description() -> None:
    position = retention.BinlogPosition("binlog.000001", 25308, "0-1-10", 1796174346)
    assert position.time == datetime(2026, 12, 2, 1, 19, 6, tzinfo=UTC)
    assert position.describe() == "GTIDs 0-1-10"
    assert retention.BinlogPosition("mysql-bin.000003", 154).describe() == "mysql-bin.000003:154"
    assert retention.BinlogPosition(ts_sec=None).time is None


# --- whether the server still has it -----------------------------------------

# What the real MariaDB 10.11 answered after two rotations and a PURGE BINARY LOGS
# TO 'binlog.000003', with a transaction of domain 1 written before it.
MARIADB_PURGED_TO_3 = retention.BinlogServerState(
    files=("binlog.000003",), oldest_gtid_list="0-1-13,1-1-1", account="debezium"
)
MARIADB_FRESH = retention.BinlogServerState(
    files=("binlog.000001", "binlog.000002"), oldest_gtid_list="", account="debezium"
)
U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
MYSQL_PURGED = retention.BinlogServerState(
    files=("mysql-bin.000007", "mysql-bin.000008"), gtid_purged=f"{U1}:1-80", account="cdc"
)


@pytest.mark.parametrize(
    ("flavor", "position", "server", "kept", "detail"),
    [
        # MariaDB: the real server served exactly these (mariadb-binlog --start-position) ...
        ("mariadb", "0-1-13,1-1-1", MARIADB_PURGED_TO_3, True, "starts after GTIDs 0-1-13,1-1-1"),
        ("mariadb", "0-1-20,1-1-1", MARIADB_PURGED_TO_3, True, "not after the job's position"),
        # ... and refused these with error 1236 (Could not find GTID state).
        (
            "mariadb",
            "0-1-10,1-1-1",
            MARIADB_PURGED_TO_3,
            False,
            "needs domain 0 transactions 11-13",
        ),
        ("mariadb", "0-1-13", MARIADB_PURGED_TO_3, False, "needs domain 1 transactions 1"),
        # The first binlog is still there: its Gtid_list is empty.
        ("mariadb", "0-1-8", MARIADB_FRESH, True, "starts after GTIDs none"),
        (
            "mariadb",
            "0-1-8",
            retention.BinlogServerState(files=("binlog.000002",), account="debezium"),
            None,
            "the Gtid_list of binlog binlog.000002 could not be read",
        ),
        ("mariadb", "0:1:8", MARIADB_FRESH, None, "not a MariaDB GTID"),
        # MySQL: @@gtid_purged against the position's GTID set.
        ("mysql", f"{U1}:1-100", MYSQL_PURGED, True, "every GTID in @@gtid_purged"),
        ("mysql", f"{U1}:1-50", MYSQL_PURGED, False, f"@@gtid_purged has {U1}:51-80"),
        (
            "mysql",
            f"{U1}:1-50",
            retention.BinlogServerState(files=("mysql-bin.000007",), account="cdc"),
            None,
            "@@gtid_purged could not be read",
        ),
    ],
)
def test_check_position_by_gtids(
    flavor: retention.mysql.Flavor,
    position: str,
    server: retention.BinlogServerState,
    kept: bool | None,
    detail: str,
) -> None:
    # The file is a purged one on purpose: with GTIDs, Debezium reconnects by them.
    check = retention.check_position(
        retention.BinlogPosition("binlog.000001", 25308, position), server, flavor=flavor
    )
    assert check.kept is kept
    assert detail in check.detail


@pytest.mark.parametrize(
    ("file", "kept", "detail"),
    [
        ("mysql-bin.000008", True, "still has binlog mysql-bin.000008"),
        ("mysql-bin.000007", True, "still has binlog mysql-bin.000007"),
        ("mysql-bin.000003", False, "mysql-bin.000003 of the job's position is purged"),
        # Not of this server's series, or newer than its newest: cannot tell.
        ("binlog.000003", None, "not among the server's (mysql-bin.000007 to mysql-bin.000008)"),
        ("mysql-bin.000009", None, "not among the server's"),
        (None, None, "names no binlog file"),
    ],
)
def test_check_position_by_file_without_gtids(
    file: str | None, kept: bool | None, detail: str
) -> None:
    for flavor in ("mysql", "mariadb"):
        check = retention.check_position(
            retention.BinlogPosition(file, 154), MYSQL_PURGED, flavor=flavor
        )
        assert (check.kept, detail in check.detail) == (kept, True), check


@pytest.mark.parametrize(
    ("server", "detail"),
    [
        (
            retention.BinlogServerState(
                account="probe",
                unreadable="Access denied; you need (at least one of) the BINLOG MONITOR "
                "privilege(s) for this operation",
            ),
            "the server could not be asked (Access denied; you need",
        ),
        (retention.BinlogServerState(account="probe"), "the server lists no binlog files"),
    ],
)
def test_check_position_when_the_server_cannot_tell(
    server: retention.BinlogServerState, detail: str
) -> None:
    check = retention.check_position(
        retention.BinlogPosition("binlog.000001", 4, "0-1-8"), server, flavor="mariadb"
    )
    assert check.kept is None and detail in check.detail


# --- the bound: anchor, checked, lost ----------------------------------------

MARIADB_1H = mysql.settings_from_values(
    version="10.11.19-MariaDB-0+deb12u1-log",
    log_bin=1,
    expire_logs_seconds=3600,
    expire_logs_days="0.041667",
)
HOUR_BEHIND = T0 - timedelta(hours=1)


@pytest.mark.parametrize(
    ("positions", "deadline", "anchor", "says"),
    [
        # No position read: from the pause, and it may be late.
        ([], T0 + timedelta(hours=1), "pausedAt", "time is unknown, so this counts from the pause"),
        (
            [retention.BinlogPosition("binlog.000001", 4, "0-1-8")],
            T0 + timedelta(hours=1),
            "pausedAt",
            "may be late",
        ),
        # Caught up at the pause (the position is the pause's moment, or just after it).
        (
            [at(T0)],
            T0 + timedelta(hours=1),
            "pausedAt",
            "no older than the pause at 2026-11-24T10:00:00Z",
        ),
        # An hour behind: the events it has not read are an hour old already.
        ([at(HOUR_BEHIND)], T0, "position", "dates from 2026-11-24T09:00:00Z, before the pause"),
        # Several connectors: the one furthest behind binds.
        ([at(T0 - timedelta(minutes=5)), at(HOUR_BEHIND), at(T0)], T0, "position", "09:00:00Z"),
    ],
)
def test_the_deadline_counts_from_the_earlier_of_pause_and_position(
    positions: list[retention.BinlogPosition], deadline: datetime, anchor: str, says: str
) -> None:
    bound = retention.mysql_bound(MARIADB_1H, paused_at=T0, positions=positions)
    assert (bound.reason, bound.deadline, bound.lost, bound.checked) == (
        "BinlogExpiry",
        deadline,
        False,
        False,
    )
    assert bound.figures["anchor"] == anchor
    assert says in bound.message
    if any(p.ts_sec for p in positions):
        earliest = min(p.time for p in positions if p.time is not None)
        assert bound.figures["positionTime"] == earliest.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        assert "positionTime" not in bound.figures


def test_a_position_the_server_still_has_is_checked_and_past_its_deadline_not_lost() -> None:
    bound = retention.mysql_bound(
        MARIADB_1H,
        paused_at=T0,
        positions=[at(HOUR_BEHIND, gtids="0-1-13,1-1-1")],
        server=MARIADB_PURGED_TO_3,
    )
    assert (bound.basis, bound.reason, bound.deadline) == (
        retention.MARIADB_EXPIRE,
        "BinlogExpiry",
        T0,
    )
    assert bound.checked and not bound.lost
    assert not bound.lost_at(T0 + timedelta(days=2))  # the server's word, not the clock
    assert "the oldest binlog, binlog.000003, starts after GTIDs 0-1-13,1-1-1" in bound.message


def test_one_position_the_server_cannot_tell_leaves_the_bound_unchecked() -> None:
    bound = retention.mysql_bound(
        MARIADB_1H,
        paused_at=T0,
        positions=[at(T0, gtids="0-1-13,1-1-1"), at(T0, gtids=None, file="other.000001")],
        server=MARIADB_PURGED_TO_3,
    )
    assert not bound.checked and not bound.lost
    assert bound.lost_at(T0 + timedelta(hours=1))  # then the clock is all there is
    assert "not known: binlog other.000001 of the job's position is not among" in bound.message


def test_without_a_position_the_server_state_checks_nothing() -> None:
    bound = retention.mysql_bound(MARIADB_1H, paused_at=T0, server=MARIADB_PURGED_TO_3)
    assert not bound.checked and bound.deadline == T0 + timedelta(hours=1)
    assert "no committed position read" in bound.message


def test_a_purged_position_with_no_reader_is_lost_and_says_what_is_gone() -> None:
    bound = retention.mysql_bound(
        MARIADB_1H,
        paused_at=T0,
        positions=[at(T0, gtids="0-1-10")],
        server=MARIADB_PURGED_TO_3,
    )
    assert (bound.basis, bound.reason, bound.lost, bound.checked, bound.deadline) == (
        retention.MARIADB_PURGED,
        "BinlogPurged",
        True,
        True,
        None,
    )
    assert bound.lost_at(T0)
    assert "binlog.000003, starts after GTIDs 0-1-13,1-1-1" in bound.message
    assert "domain 0 transactions 11-13, domain 1 transactions 1" in bound.message


@pytest.mark.parametrize(
    ("readers", "lost"),
    [
        # The connector's own account: most likely the paused task, reading on into memory.
        (("debezium",), False),
        (("repl", "debezium"), False),
        # Only other accounts' readers (a replica, another tool): not the job's.
        (("repl",), True),
        ((), True),
    ],
)
def test_a_purged_position_with_the_jobs_reader_connected_is_due_now_not_lost(
    readers: tuple[str, ...], *, lost: bool
) -> None:
    server = retention.BinlogServerState(
        files=("binlog.000003",),
        oldest_gtid_list="0-1-13,1-1-1",
        readers=readers,
        account="debezium",
    )
    bound = retention.mysql_bound(
        MARIADB_1H, paused_at=T0, positions=[at(HOUR_BEHIND, gtids="0-1-10")], server=server
    )
    assert bound.lost is lost and bound.checked
    assert bound.basis == retention.MARIADB_PURGED
    if not lost:
        assert bound.reason == "BinlogHeldByReader"
        assert bound.deadline == HOUR_BEHIND  # the anchor: already due
        assert not bound.lost_at(T0 + timedelta(days=1))
        assert "binlog reader of debezium is still connected" in bound.message
        assert "resume now" in bound.message
        at_risk = conditions.retention_at_risk(
            in_pause=True,
            now=T0,
            warn_before=timedelta(hours=1),
            bound=bound,
            deadline=bound.deadline,
        )
        assert (at_risk.status, at_risk.reason) == ("True", "BinlogHeldByReader")
        assert retention.auto_resume_due(bound, now=T0, auto_resume_before=timedelta(minutes=1))


def test_mysql_purged_gtids_are_a_loss_and_never_expiring_binlogs_are_still_checked() -> None:
    settings = mysql.settings_from_values(
        version="8.0.36", log_bin=1, expire_logs_seconds=0, expire_logs_days=0
    )
    kept = retention.mysql_bound(
        settings, paused_at=T0, positions=[at(T0, gtids=f"{U1}:1-100")], server=MYSQL_PURGED
    )
    assert (kept.reason, kept.deadline, kept.checked, kept.lost) == (
        "BinlogNeverExpires",
        None,
        True,
        False,
    )
    gone = retention.mysql_bound(
        settings, paused_at=T0, positions=[at(T0, gtids=f"{U1}:1-50")], server=MYSQL_PURGED
    )
    assert (gone.basis, gone.reason, gone.lost) == (retention.MYSQL_PURGED, "BinlogPurged", True)
    assert f"@@gtid_purged has {U1}:51-80" in gone.message


def test_an_account_without_binlog_monitor_gives_an_unchecked_bound_that_says_why() -> None:
    server = retention.BinlogServerState(
        account="probe",
        unreadable="Access denied; you need (at least one of) the BINLOG MONITOR privilege(s) "
        "for this operation",
    )
    bound = retention.mysql_bound(
        MARIADB_1H, paused_at=T0, positions=[at(T0, gtids="0-1-8")], server=server
    )
    assert not bound.checked and not bound.lost and bound.deadline == T0 + timedelta(hours=1)
    assert "BINLOG MONITOR" in bound.message


def test_a_purged_position_held_by_a_reader_is_not_lost_by_the_clock_beside_an_unknown_one() -> (
    None
):
    server = retention.BinlogServerState(
        files=("binlog.000003",),
        oldest_gtid_list="0-1-13",
        readers=("debezium",),
        account="debezium",
    )
    bound = retention.mysql_bound(
        MARIADB_1H,
        paused_at=T0,
        positions=[at(T0, gtids="0-1-10"), at(T0, gtids=None, file="other.000001")],
        server=server,
    )
    assert bound.reason == "BinlogHeldByReader" and bound.checked
    assert not bound.lost_at(T0 + timedelta(days=1))
