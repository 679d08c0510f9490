"""MySQL and MariaDB retention: the binlog expiry as a bound (decide.retention.mysql)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import mysql

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


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
