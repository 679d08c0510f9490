"""Tables for the retention formulas: each source's answers in, a bound out.

The functions under test are pure (syncjob_operator.decide.retention), so
these are plain tables; the rows for SQL Server, Oracle and Kafka are shaped
like the query results the probes receive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from syncjob_operator.api import jobspec
from syncjob_operator.decide import retention
from syncjob_operator.probes import kafka_topics, mysql, postgresql, sqlserver
from syncjob_operator.probes.connection import SourceConnection

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MiB = 1024 * 1024


# --- WAL rate -----------------------------------------------------------------------


def sample(lsn: int, seconds: float) -> retention.WalSample:
    return retention.WalSample(lsn=lsn, at=T0 + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("earlier", "later", "rate"),
    [
        (sample(0, 0), sample(1000, 10), 100.0),
        (sample(5 * MiB, 0), sample(6 * MiB, 60), MiB / 60),
        (sample(100, 0), sample(100, 30), 0.0),  # idle
        (sample(100, 10), sample(200, 10), None),  # same instant
        (sample(100, 10), sample(200, 5), None),  # clock went back
        (sample(200, 0), sample(100, 10), None),  # LSN went back: another server
    ],
)
def test_wal_rate_between(
    earlier: retention.WalSample, later: retention.WalSample, rate: float | None
) -> None:
    assert retention.wal_rate_between(earlier, later) == (
        pytest.approx(rate) if rate is not None else None
    )


def test_update_wal_rate_first_sample_has_no_rate() -> None:
    state = retention.update_wal_rate(None, sample(0, 0))
    assert state.bytes_per_second is None and state.samples == 1


def test_update_wal_rate_second_sample_is_the_instant_rate() -> None:
    state = retention.update_wal_rate(retention.update_wal_rate(None, sample(0, 0)), sample(600, 6))
    assert state.bytes_per_second == pytest.approx(100.0) and state.samples == 2


@pytest.mark.parametrize(
    ("old_rate", "instant", "interval", "expected"),
    [
        # Rising: half-life 30 s, so after 30 s half-way to the new rate.
        (100.0, 300.0, 30, 200.0),
        # Falling: half-life 15 min, so after 30 s only ~2.3 % of the way down.
        (300.0, 100.0, 30, 300.0 - 200.0 * (1 - 0.5 ** (30 / 900))),
        # Falling for one half-life: half-way.
        (300.0, 100.0, 900, 200.0),
        # Idle after a burst: the rate decays, it does not drop to zero at once.
        (1000.0, 0.0, 60, 1000.0 * 0.5 ** (60 / 900)),
        # Same rate: unchanged.
        (50.0, 50.0, 10, 50.0),
    ],
)
def test_update_wal_rate_smoothing(
    old_rate: float, instant: float, interval: int, expected: float
) -> None:
    previous = retention.WalRate(bytes_per_second=old_rate, last=sample(10_000, 0), samples=5)
    new = retention.update_wal_rate(previous, sample(10_000 + int(instant * interval), interval))
    assert new.bytes_per_second == pytest.approx(expected, rel=1e-3)
    assert new.samples == 6


def test_update_wal_rate_burst_does_not_whipsaw_the_deadline() -> None:
    """A 10-second burst between steady samples moves the rate up, then back only slowly."""
    state = retention.update_wal_rate(None, sample(0, 0))
    lsn, t = 0, 0
    for _ in range(10):  # steady 1 MiB/min, sampled every minute
        lsn, t = lsn + MiB, t + 60
        state = retention.update_wal_rate(state, sample(lsn, t))
    steady = state.bytes_per_second
    assert steady is not None and steady == pytest.approx(MiB / 60)
    lsn, t = lsn + 100 * MiB, t + 10  # burst: 100 MiB in 10 s
    state = retention.update_wal_rate(state, sample(lsn, t))
    after_burst = state.bytes_per_second
    assert after_burst is not None and after_burst > 10 * steady
    lsn, t = lsn + MiB, t + 60  # back to steady
    state = retention.update_wal_rate(state, sample(lsn, t))
    assert state.bytes_per_second is not None
    assert steady < state.bytes_per_second < after_burst
    assert state.bytes_per_second > 0.9 * after_burst  # a single calm minute barely moves it


def test_update_wal_rate_resets_when_the_lsn_goes_back() -> None:
    previous = retention.WalRate(bytes_per_second=500.0, last=sample(10_000, 0), samples=9)
    state = retention.update_wal_rate(previous, sample(5_000, 10))
    assert state.bytes_per_second is None and state.samples == 1


def test_update_wal_rate_ignores_a_sample_at_the_same_instant() -> None:
    previous = retention.WalRate(bytes_per_second=500.0, last=sample(10_000, 0), samples=9)
    assert retention.update_wal_rate(previous, sample(20_000, 0)) is previous


# --- PostgreSQL -----------------------------------------------------------------------


def pg(**overrides: Any) -> retention.PgSlotObservation:
    fields: dict[str, Any] = {
        "slot_name": "debezium_orders",
        "server_version_num": 150018,
        "observed_at": T0,
        "current_lsn": 100 * MiB,
        "active": True,
        "wal_status": "reserved",
        "safe_wal_size": 30 * MiB,
        "restart_lsn": 98 * MiB,
        "confirmed_flush_lsn": 98 * MiB,
        "retained_bytes": 2 * MiB,
        "max_slot_wal_keep_size_bytes": 32 * MiB,
    }
    fields.update(overrides)
    return retention.PgSlotObservation(**fields)


@pytest.mark.parametrize(
    ("obs", "rate", "basis", "reason", "lost", "deadline"),
    [
        # 30 MiB left at 1 MiB/s: 30 s.
        (pg(), MiB, retention.PG_SAFE_WAL_SIZE, "SafeWalSize", False, T0 + timedelta(seconds=30)),
        # 30 MiB left at 10 KiB/s: 3072 s.
        (
            pg(),
            10 * 1024,
            "postgresql:safe_wal_size",
            "SafeWalSize",
            False,
            T0 + timedelta(seconds=3072),
        ),
        # 1 GiB left at 1 MiB/min: 1024 min.
        (
            pg(safe_wal_size=1024 * MiB, max_slot_wal_keep_size_bytes=1024 * MiB),
            MiB / 60,
            retention.PG_SAFE_WAL_SIZE,
            "SafeWalSize",
            False,
            T0 + timedelta(minutes=1024),
        ),
        # "extended": still safe (beyond max_wal_size, within the keep size).
        (
            pg(wal_status="extended"),
            MiB,
            retention.PG_SAFE_WAL_SIZE,
            "SafeWalSize",
            False,
            T0 + timedelta(seconds=30),
        ),
        # No rate yet / idle / negligible: no deadline, and the reason says why.
        (pg(), None, retention.PG_SAFE_WAL_SIZE, "WalRateUnknown", False, None),
        (pg(), 0.0, retention.PG_SAFE_WAL_SIZE, "WalIdle", False, None),
        (pg(), 1e-6, retention.PG_SAFE_WAL_SIZE, "WalRateNegligible", False, None),
        # Unreserved, or safe_wal_size used up: the next checkpoint removes WAL it needs.
        (
            pg(wal_status="unreserved", safe_wal_size=-512 * 1024),
            MiB,
            retention.PG_SAFE_WAL_SIZE,
            "SlotUnreserved",
            False,
            T0,
        ),
        (pg(safe_wal_size=0), MiB, retention.PG_SAFE_WAL_SIZE, "SlotUnreserved", False, T0),
        # Lost: the change log is gone.
        (
            pg(wal_status="lost", safe_wal_size=None, restart_lsn=None),
            MiB,
            retention.PG_WAL_STATUS,
            "SlotLost",
            True,
            None,
        ),
        # PostgreSQL 17+: invalidation_reason, even with a wal_status that looks fine.
        (
            pg(
                server_version_num=170002,
                wal_status="lost",
                safe_wal_size=None,
                invalidation_reason="wal_removed",
            ),
            MiB,
            retention.PG_INVALIDATED,
            "SlotInvalidated",
            True,
            None,
        ),
        (
            pg(
                server_version_num=180000,
                invalidation_reason="idle_timeout",
                wal_status="lost",
                safe_wal_size=None,
            ),
            None,
            retention.PG_INVALIDATED,
            "SlotInvalidated",
            True,
            None,
        ),
        # PostgreSQL 16 logical slot on a standby, invalidated by a conflict.
        (
            pg(server_version_num=160004, conflicting=True),
            MiB,
            retention.PG_INVALIDATED,
            "SlotInvalidated",
            True,
            None,
        ),
        # max_slot_wal_keep_size = -1: no deadline, the disk is the limit.
        (
            pg(
                max_slot_wal_keep_size_bytes=None, safe_wal_size=None, retained_bytes=5 * 1024 * MiB
            ),
            MiB,
            retention.PG_UNLIMITED,
            "WalRetentionUnlimited",
            False,
            None,
        ),
        # A lost slot is lost even where the keep size is unlimited.
        (
            pg(max_slot_wal_keep_size_bytes=None, wal_status="lost", safe_wal_size=None),
            MiB,
            retention.PG_WAL_STATUS,
            "SlotLost",
            True,
            None,
        ),
        # PostgreSQL 12: no safe_wal_size, no keep size: unlimited.
        (
            pg(
                server_version_num=120017,
                wal_status=None,
                safe_wal_size=None,
                max_slot_wal_keep_size_bytes=None,
            ),
            MiB,
            retention.PG_UNLIMITED,
            "WalRetentionUnlimited",
            False,
            None,
        ),
        # A limit set but no safe_wal_size reported: no number made up.
        (
            pg(safe_wal_size=None),
            MiB,
            retention.PG_SAFE_WAL_SIZE,
            "SafeWalSizeUnknown",
            False,
            None,
        ),
    ],
)
def test_postgres_wal_bound(
    obs: retention.PgSlotObservation,
    rate: float | None,
    *,  # pytest passes parameters by name; the table's columns read as keywords
    basis: str,
    reason: str,
    lost: bool,
    deadline: datetime | None,
) -> None:
    bound = retention.postgres_wal_bound(obs, rate, now=T0)
    assert (bound.basis, bound.reason, bound.lost) == (basis, reason, lost)
    if deadline is None:
        assert bound.deadline is None
    else:
        assert bound.deadline is not None
        assert abs((bound.deadline - deadline).total_seconds()) < 1e-3
    assert bound.message.endswith(".")
    assert obs.slot_name in bound.message


def test_postgres_figures_name_what_was_measured() -> None:
    bound = retention.postgres_wal_bound(pg(), 2048.0, now=T0)
    assert bound.figures == {
        "slotName": "debezium_orders",
        "active": True,
        "walStatus": "reserved",
        "retainedBytes": 2 * MiB,
        "safeBytes": 30 * MiB,
        "maxSlotWalKeepSizeBytes": 32 * MiB,
        "walBytesPerSecond": 2048.0,
    }
    assert "30.0 MiB" in bound.message and "2.0 KiB/s" in bound.message


def test_postgres_unlimited_reports_retained_bytes_and_the_disk() -> None:
    bound = retention.postgres_wal_bound(
        pg(max_slot_wal_keep_size_bytes=None, safe_wal_size=None, retained_bytes=3 * MiB),
        None,
        now=T0,
    )
    assert bound.figures["retainedBytes"] == 3 * MiB
    assert "disk" in bound.message and "3.0 MiB" in bound.message


@pytest.mark.parametrize(
    ("obs", "rate", "basis", "deadline"),
    [
        # PostgreSQL 18, stopped connector: the slot is inactive; idle timeout 1 h
        # binds before the WAL bound (30 MiB at 1 KiB/s = 8.5 h).
        (
            pg(
                server_version_num=180000,
                active=False,
                inactive_since=T0 - timedelta(minutes=20),
                idle_replication_slot_timeout_seconds=3600,
            ),
            1024.0,
            retention.PG_IDLE_TIMEOUT,
            T0 + timedelta(minutes=40),
        ),
        # The same, but the WAL fills first (30 s).
        (
            pg(
                server_version_num=180000,
                active=False,
                inactive_since=T0,
                idle_replication_slot_timeout_seconds=3600,
            ),
            MiB,
            retention.PG_SAFE_WAL_SIZE,
            T0 + timedelta(seconds=30),
        ),
        # Paused connector: the slot stays active, the timeout does not apply.
        (
            pg(server_version_num=180000, active=True, idle_replication_slot_timeout_seconds=60),
            1024.0,
            retention.PG_SAFE_WAL_SIZE,
            T0 + timedelta(seconds=30 * 1024),
        ),
        # Timeout off (0): only the WAL bound.
        (
            pg(active=False, inactive_since=T0, idle_replication_slot_timeout_seconds=0),
            1024.0,
            retention.PG_SAFE_WAL_SIZE,
            T0 + timedelta(seconds=30 * 1024),
        ),
        # Unlimited WAL, idle rate, but an idle timeout: the timeout is the deadline.
        (
            pg(
                active=False,
                inactive_since=T0,
                idle_replication_slot_timeout_seconds=600,
                max_slot_wal_keep_size_bytes=None,
                safe_wal_size=None,
            ),
            0.0,
            retention.PG_IDLE_TIMEOUT,
            T0 + timedelta(minutes=10),
        ),
    ],
)
def test_postgres_bound_with_idle_timeout(
    obs: retention.PgSlotObservation, rate: float, basis: str, deadline: datetime
) -> None:
    bound = retention.postgres_bound(obs, rate, now=T0)
    assert bound.basis == basis
    assert bound.deadline == deadline


def test_postgres_bounds_skip_the_idle_timeout_once_lost() -> None:
    obs = pg(
        wal_status="lost",
        safe_wal_size=None,
        active=False,
        inactive_since=T0,
        idle_replication_slot_timeout_seconds=60,
    )
    assert [b.basis for b in retention.postgres_bounds(obs, MiB, now=T0)] == [
        retention.PG_WAL_STATUS
    ]


# Recorded rows of the probe's two queries, as psycopg's dict_row gives them.
PG15_SLOT_ROW: dict[str, object] = {
    "slot_name": "debezium_orders",
    "plugin": "pgoutput",
    "slot_type": "logical",
    "active": False,
    "restart_lsn": "0/2000028",
    "confirmed_flush_lsn": "0/2000060",
    "wal_status": "reserved",
    "safe_wal_size": 31457240,
    "conflicting": None,
    "invalidation_reason": None,
    "inactive_since": None,
    "current_lsn": "0/2200000",
    "retained_bytes": 2097112,
    "observed_at": T0,
}


@pytest.mark.parametrize(
    ("settings_rows", "keep_bytes", "idle_seconds"),
    [
        ([{"name": "max_slot_wal_keep_size", "setting": "32", "unit": "MB"}], 32 * MiB, None),
        ([{"name": "max_slot_wal_keep_size", "setting": "-1", "unit": "MB"}], None, None),
        ([], None, None),  # PostgreSQL 12: no such setting
        (
            [
                {"name": "max_slot_wal_keep_size", "setting": "1024", "unit": "MB"},
                {"name": "idle_replication_slot_timeout", "setting": "3600", "unit": "s"},
            ],
            1024 * MiB,
            3600,
        ),
        ([{"name": "idle_replication_slot_timeout", "setting": "2", "unit": "min"}], None, 120),
    ],
)
def test_pg_observation_from_recorded_rows(
    settings_rows: list[dict[str, object]], keep_bytes: int | None, idle_seconds: int | None
) -> None:
    obs = postgresql.observation_from_rows(PG15_SLOT_ROW, settings_rows, 150018)
    assert obs.max_slot_wal_keep_size_bytes == keep_bytes
    assert obs.idle_replication_slot_timeout_seconds == idle_seconds
    assert obs.restart_lsn == 0x2000028
    assert obs.confirmed_flush_lsn == 0x2000060
    assert obs.current_lsn == 0x2200000
    assert obs.wal_sample == retention.WalSample(lsn=0x2200000, at=T0)
    assert (obs.active, obs.wal_status, obs.safe_wal_size) == (False, "reserved", 31457240)


def test_pg_observation_from_a_lost_pg17_row() -> None:
    row = {
        **PG15_SLOT_ROW,
        "restart_lsn": None,
        "wal_status": "lost",
        "safe_wal_size": None,
        "retained_bytes": None,
        "invalidation_reason": "wal_removed",
        "inactive_since": T0 - timedelta(hours=1),
        "conflicting": False,
    }
    obs = postgresql.observation_from_rows(
        row, [{"name": "max_slot_wal_keep_size", "setting": "32", "unit": "MB"}], 170002
    )
    assert obs.restart_lsn is None and obs.inactive_since == T0 - timedelta(hours=1)
    bound = retention.postgres_bound(obs, 100.0, now=T0)
    assert bound.lost and bound.reason == "SlotInvalidated" and "wal_removed" in bound.message


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        (120017, [], ["s.wal_status", "s.conflicting", "s.invalidation_reason"]),
        (130000, ["s.wal_status", "s.safe_wal_size"], ["s.conflicting"]),
        (160004, ["s.conflicting"], ["s.invalidation_reason", "s.inactive_since"]),
        (170002, ["s.invalidation_reason", "s.inactive_since"], []),
    ],
)
def test_pg_slot_query_matches_the_server_version(
    version: int, present: list[str], absent: list[str]
) -> None:
    query = postgresql.slot_query(version)
    assert all(column in query for column in present)
    assert not any(column in query for column in absent)


# --- MySQL and MariaDB --------------------------------------------------------------------


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
    lagged = retention.mysql_bound(settings, paused_at=T0, position_time=T0 - timedelta(minutes=10))
    assert lagged.deadline == T0 + timedelta(minutes=50)
    ahead = retention.mysql_bound(settings, paused_at=T0, position_time=T0 + timedelta(minutes=1))
    assert ahead.deadline == T0 + timedelta(hours=1)  # never later than pausedAt + expiry


def test_mysql_bound_without_binlog_is_lost() -> None:
    settings = mysql.settings_from_values(
        version="8.0.36", log_bin=0, expire_logs_seconds=3600, expire_logs_days=None
    )
    bound = retention.mysql_bound(settings, paused_at=T0)
    assert bound.lost and bound.reason == "BinlogDisabled"


# --- SQL Server (recorded rows: there is no server to run here) ----------------------------


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


# --- spec.source.retention and Kafka -----------------------------------------------------------


def test_configured_bound() -> None:
    bound = retention.configured_bound(timedelta(hours=72), paused_at=T0)
    assert bound.basis == "spec.source.retention"
    assert bound.deadline == T0 + timedelta(hours=72)
    assert bound.figures == {"retentionSeconds": 259200}
    assert "3d" in bound.message


@pytest.mark.parametrize(
    ("configs", "topic", "deadline", "reason"),
    [
        (
            {
                "orders": {
                    "retention.ms": "604800000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "delete",
                },
                "orders.items": {
                    "retention.ms": "86400000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "delete",
                },
            },
            "orders.items",
            T0 + timedelta(days=1),
            "TopicRetention",
        ),
        # -1: unlimited; compact-only topics have no time limit either.
        (
            {
                "a": {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"},
                "b": {
                    "retention.ms": "3600000",
                    "retention.bytes": "-1",
                    "cleanup.policy": "compact",
                },
            },
            None,
            None,
            "TopicRetentionUnlimited",
        ),
        # compact,delete: the time limit applies.
        (
            {
                "c": {
                    "retention.ms": "3600000",
                    "retention.bytes": "1073741824",
                    "cleanup.policy": "compact,delete",
                }
            },
            "c",
            T0 + timedelta(hours=1),
            "TopicRetention",
        ),
        # Missing keys read as Kafka's "no limit".
        ({"d": {}}, None, None, "TopicRetentionUnlimited"),
    ],
)
def test_kafka_bound_from_described_configs(
    configs: dict[str, dict[str, str]], topic: str | None, deadline: datetime | None, reason: str
) -> None:
    topics = [kafka_topics.topic_retention_from_config(name, cfg) for name, cfg in configs.items()]
    bound = retention.kafka_bound(topics, paused_at=T0)
    assert bound is not None
    assert (bound.basis, bound.deadline, bound.reason) == (
        retention.KAFKA_RETENTION,
        deadline,
        reason,
    )
    if topic is not None:
        assert bound.figures["topic"] == topic


def test_kafka_bound_mentions_size_limits_and_lag() -> None:
    topics = [retention.TopicRetention("t", retention_ms=3_600_000, retention_bytes=1 << 30)]
    bound = retention.kafka_bound(topics, paused_at=T0, position_time=T0 - timedelta(minutes=5))
    assert bound is not None
    assert bound.deadline == T0 + timedelta(minutes=55)
    assert "retention.bytes" in bound.message and bound.figures["retentionBytes"] == 1 << 30
    assert retention.kafka_bound([], paused_at=T0) is None


# --- which bound binds, and what it means now ---------------------------------------------------


def b(basis: str, deadline: datetime | None, lost: bool = False) -> retention.RetentionBound:
    return retention.RetentionBound(basis, deadline, lost, "R", "m.")


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("bounds", "winner"),
    [
        ([], None),
        ([None, None], None),
        ([b("pg", T0 + 5 * H), b("kafka", T0 + 2 * H)], "kafka"),
        ([b("pg", T0 + 5 * H), None, b("kafka", T0 + 7 * H)], "pg"),
        ([b("pg", None), b("kafka", T0 + 7 * H)], "kafka"),
        ([b("pg", None), b("kafka", None)], "pg"),  # no deadline anywhere: the first explains
        ([b("kafka", T0 + H), b("pg", None, lost=True)], "pg"),  # lost wins over any deadline
        ([b("a", T0 + H), b("b", T0 + H)], "a"),  # ties: the first
    ],
)
def test_combine(bounds: list[retention.RetentionBound | None], winner: str | None) -> None:
    bound = retention.combine(bounds)
    assert (bound.basis if bound else None) == winner


@pytest.mark.parametrize(
    ("database", "configured", "winner"),
    [
        (b("pg", T0 + 5 * H), b("spec", T0 + 70 * H), "spec"),  # the user's figure wins where set
        (b("pg", T0 + 5 * H), None, "pg"),
        (None, b("spec", T0 + 70 * H), "spec"),  # e.g. Oracle, or a failed probe
        (b("pg", None, lost=True), b("spec", T0 + 70 * H), "pg"),  # but a loss is believed
        (None, None, None),
    ],
)
def test_choose_source_bound(
    database: retention.RetentionBound | None,
    configured: retention.RetentionBound | None,
    winner: str | None,
) -> None:
    bound = retention.choose_source_bound(database, configured)
    assert (bound.basis if bound else None) == winner


@pytest.mark.parametrize(
    ("bound", "before", "due"),
    [
        (b("x", T0 + 2 * H), timedelta(minutes=30), False),
        (b("x", T0 + timedelta(minutes=30)), timedelta(minutes=30), True),
        (b("x", T0 + timedelta(minutes=10)), timedelta(minutes=30), True),
        (
            b("x", T0 - H),
            timedelta(minutes=30),
            True,
        ),  # late, but resuming still saves what is left
        (b("x", T0 + timedelta(minutes=10)), None, False),  # not asked for
        (b("x", None), timedelta(minutes=30), False),
        (b("x", None, lost=True), timedelta(minutes=30), False),  # too late: a snapshot is needed
        (None, timedelta(minutes=30), False),
    ],
)
def test_auto_resume_due(
    bound: retention.RetentionBound | None, before: timedelta | None, due: bool
) -> None:
    assert retention.auto_resume_due(bound, now=T0, auto_resume_before=before) is due


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [
        (None, None, False),
        (None, T0 + H, True),
        (T0 + H, None, True),
        (T0 + 10 * H, T0 + 10 * H + timedelta(minutes=5), False),  # 5 min of 10 h: noise
        (T0 + 10 * H, T0 + 9 * H, True),  # an hour of 10 h: moved
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=10, seconds=50), False),  # < 1 min
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=12), True),
    ],
)
def test_deadline_moved(old: datetime | None, new: datetime | None, moved: bool) -> None:
    assert retention.deadline_moved(old, new, now=T0) is moved


# --- connection Secrets -------------------------------------------------------------------------

PASSWORD = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("source_type", "data", "expected"),
    [
        (
            "postgresql",
            {
                "host": "db.sales",
                "port": "5433",
                "dbname": "orders",
                "user": "probe",
                "password": PASSWORD,
            },
            ("db.sales", 5433, "probe", "orders", None),
        ),
        (
            "postgresql",
            {
                "host": "db",
                "database": "orders",
                "username": "probe",
                "password": PASSWORD,
                "sslmode": "verify-full",
            },
            ("db", 5432, "probe", "orders", "verify-full"),
        ),
        (
            "postgresql",
            {"uri": f"postgresql://probe:{PASSWORD}@db.sales:6432/orders?sslmode=require"},
            ("db.sales", 6432, "probe", "orders", "require"),
        ),
        (
            "postgresql",
            {"uri": "postgres://pro%40be:p%2Fw@[::1]/orders"},
            ("::1", 5432, "pro@be", "orders", None),
        ),
        (
            "mysql",
            {"host": "m", "user": "root", "password": PASSWORD},
            ("m", 3306, "root", None, None),
        ),
        ("mariadb", {"uri": f"mariadb://root:{PASSWORD}@m:3307"}, ("m", 3307, "root", None, None)),
        ("mariadb", {"uri": f"mysql://root:{PASSWORD}@m/app"}, ("m", 3306, "root", "app", None)),
        (
            "sqlserver",
            {"host": "s", "dbname": "sales", "user": "sa", "password": PASSWORD},
            ("s", 1433, "sa", "sales", None),
        ),
    ],
)
def test_source_connection_from_secret(
    source_type: jobspec.SourceType,
    data: dict[str, str],
    expected: tuple[str, int, str, str | None, str | None],
) -> None:
    conn = SourceConnection.from_secret(data, source_type=source_type)
    assert (conn.host, conn.port, conn.user, conn.dbname, conn.sslmode) == expected
    assert PASSWORD not in repr(conn) and PASSWORD not in str(conn)


def test_source_connection_keeps_the_password_and_ca() -> None:
    conn = SourceConnection.from_secret(
        {"uri": "postgresql://u:p%2Fw@h/db", "ca.crt": "-----BEGIN CERTIFICATE-----"},
        source_type="postgresql",
    )
    assert conn.password == "p/w"
    assert conn.ca_cert == "-----BEGIN CERTIFICATE-----"
    assert "CERTIFICATE" not in repr(conn)
    assert conn.redact("FATAL: bad p/w here") == "FATAL: bad *** here"


@pytest.mark.parametrize(
    ("source_type", "data", "message"),
    [
        ("postgresql", {"user": "u", "dbname": "d", "password": PASSWORD}, "'host'"),
        ("postgresql", {"host": "h", "dbname": "d", "password": PASSWORD}, "'user'"),
        ("postgresql", {"host": "h", "user": "u", "password": PASSWORD}, "'dbname'"),
        (
            "postgresql",
            {"host": "h", "user": "u", "dbname": "d", "port": "54x"},
            "'port' is not a number",
        ),
        (
            "postgresql",
            {"host": "h", "user": "u", "dbname": "d", "port": "70000"},
            "'port' is out of range",
        ),
        ("postgresql", {"uri": f"mysql://u:{PASSWORD}@h/d"}, "must start with postgresql://"),
        ("postgresql", {"uri": f"postgresql://u:{PASSWORD}@h"}, "no database"),
        ("postgresql", {"uri": f"postgresql://:{PASSWORD}@h/d"}, "no user"),
        ("postgresql", {"uri": f"postgresql://u:{PASSWORD}@h:99999/d"}, "not a valid URI"),
        ("mysql", {"uri": f"postgresql://u:{PASSWORD}@h/d"}, "mysql:// or mariadb://"),
        ("mysql", {}, "'host'"),
    ],
)
def test_source_connection_errors_name_the_key_not_the_password(
    source_type: jobspec.SourceType, data: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SourceConnection.from_secret(data, source_type=source_type)
    assert PASSWORD not in str(info.value)


def test_offsets_and_timezones_stay_aware() -> None:
    east = timezone(timedelta(hours=2))
    bound = retention.configured_bound(timedelta(hours=1), paused_at=T0.astimezone(east))
    assert bound.deadline == T0 + H
