"""MySQL and MariaDB: how long the server keeps binlog files.

A paused Debezium MySQL/MariaDB connector's events live in binlog files, which
the server purges once they are older than ``binlog_expire_logs_seconds`` (or
``expire_logs_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from syncjob_operator import units
from syncjob_operator.decide.retention.combine import Figure, RetentionBound

MYSQL_EXPIRE = "mysql:binlog_expire_logs_seconds"
MARIADB_EXPIRE = "mariadb:binlog_expire_logs_seconds"


@dataclass(frozen=True)
class BinlogSettings:
    """What a MySQL or MariaDB server says about its binary log.

    ``expire_logs_seconds`` is ``@@binlog_expire_logs_seconds`` (MySQL 8.0+,
    MariaDB 10.6+; None where the variable does not exist);
    ``expire_logs_days`` is ``@@expire_logs_days`` (gone in MySQL 8.4;
    fractional in MariaDB, where the two are one setting).
    """

    flavor: Literal["mysql", "mariadb"]
    version: str
    log_bin: bool
    expire_logs_seconds: int | None
    expire_logs_days: float | None


def binlog_expiry_seconds(settings: BinlogSettings) -> int:
    """The effective expiry in seconds; 0 means binlogs are never purged automatically.

    ``binlog_expire_logs_seconds`` wins when non-zero (MySQL 8.0 ignores
    ``expire_logs_days`` then; in MariaDB they are kept equal anyway).
    """
    if settings.expire_logs_seconds:
        return settings.expire_logs_seconds
    if settings.expire_logs_days:
        return round(settings.expire_logs_days * 86400)
    return 0


def mysql_bound(
    settings: BinlogSettings,
    *,
    paused_at: datetime,
    position_time: datetime | None = None,
) -> RetentionBound:
    """deadline = pausedAt + binlog expiry (conservative).

    A binlog file is purged once it is older than the expiry (at rotation,
    FLUSH LOGS or startup). The file holding the job's position was written to
    at or after the moment the connector read it, so it lives at least until
    that moment + expiry. ``position_time`` (the source time of the last
    committed event) moves the anchor earlier when the connector lagged.
    """
    basis = MARIADB_EXPIRE if settings.flavor == "mariadb" else MYSQL_EXPIRE
    anchor = min(paused_at, position_time) if position_time else paused_at
    expiry = binlog_expiry_seconds(settings)
    figures: dict[str, Figure] = {"expireSeconds": expiry, "version": settings.version}

    def bound(
        reason: str, message: str, *, deadline: datetime | None = None, lost: bool = False
    ) -> RetentionBound:
        return RetentionBound(basis, deadline, lost, reason, message, figures)

    if not settings.log_bin:
        return bound(
            "BinlogDisabled",
            "The source has no binary log (log_bin is OFF): no change log is kept.",
            lost=True,
        )
    if expiry <= 0:
        return bound(
            "BinlogNeverExpires",
            "binlog_expire_logs_seconds and expire_logs_days are 0: binlogs are not purged "
            "automatically; only PURGE BINARY LOGS or a full disk removes them.",
        )
    expire = timedelta(seconds=expiry)
    return bound(
        "BinlogExpiry",
        f"The source purges binlogs after {units.format_duration(expire)}; the job's position "
        f"dates from {anchor.isoformat()}.",
        deadline=anchor + expire,
    )
