"""Retention deadlines: how long a paused job can stay paused before it loses events.

Why this exists: every source keeps the change log a paused job has not read
only for a while, and each says so differently (a replication slot's
``safe_wal_size``, a binlog expiry, a CDC cleanup job, a topic's
``retention.ms``).  One module per source turns what its probe observed into
:class:`RetentionBound` values; :mod:`.combine` picks the one that binds.
docs/design.md has the facts behind each formula.

What may live here: pure functions of what was observed and of ``now``, no
I/O (the import-linter contract for ``syncjob_operator.decide`` enforces it):
the probes in ``syncjob_operator.probes`` do the reading.  So every formula is
a table test.  The public names are re-exported here, so callers write
``retention.kafka_bound``.

Rules that hold throughout:

- A deadline is only ever computed from figures the source reported; when it
  cannot be (no limit, no WAL rate yet), ``deadline`` is None and ``message``
  says why: never a made-up number.
- Where a formula has to guess, it guesses early (the deadline is a lower
  bound on when events go missing).
- Messages and reprs never contain a password.
"""

from __future__ import annotations

from syncjob_operator.decide.retention.combine import (
    CONFIGURED,
    Figure,
    RetentionBound,
    auto_resume_due,
    choose_source_bound,
    combine,
    configured_bound,
    deadline_moved,
)
from syncjob_operator.decide.retention.kafka import (
    KAFKA_RETENTION,
    PartitionPosition,
    SinkPositions,
    TopicRetention,
    kafka_bound,
    records_to_read,
    unread_offset,
)
from syncjob_operator.decide.retention.mysql import (
    MARIADB_EXPIRE,
    MARIADB_PURGED,
    MYSQL_EXPIRE,
    MYSQL_PURGED,
    BinlogPosition,
    BinlogServerState,
    BinlogSettings,
    PositionCheck,
    binlog_expiry_seconds,
    check_position,
    mysql_bound,
    offset_position,
)
from syncjob_operator.decide.retention.postgresql import (
    FALL_HALF_LIFE,
    HORIZON,
    PG_IDLE_TIMEOUT,
    PG_INVALIDATED,
    PG_SAFE_WAL_SIZE,
    PG_UNLIMITED,
    PG_WAL_STATUS,
    RISE_HALF_LIFE,
    PgSlotObservation,
    WalRate,
    WalSample,
    carried_wal_rate,
    postgres_bound,
    postgres_bounds,
    postgres_idle_bound,
    postgres_wal_bound,
    update_wal_rate,
    wal_rate_between,
)
from syncjob_operator.decide.retention.sqlserver import (
    SQLSERVER_CLEANUP,
    CaptureInstance,
    CdcMinLsns,
    lsn_text,
    sqlserver_bound,
)

__all__ = [
    "CONFIGURED",
    "FALL_HALF_LIFE",
    "HORIZON",
    "KAFKA_RETENTION",
    "MARIADB_EXPIRE",
    "MARIADB_PURGED",
    "MYSQL_EXPIRE",
    "MYSQL_PURGED",
    "PG_IDLE_TIMEOUT",
    "PG_INVALIDATED",
    "PG_SAFE_WAL_SIZE",
    "PG_UNLIMITED",
    "PG_WAL_STATUS",
    "RISE_HALF_LIFE",
    "SQLSERVER_CLEANUP",
    "BinlogPosition",
    "BinlogServerState",
    "BinlogSettings",
    "CaptureInstance",
    "CdcMinLsns",
    "Figure",
    "PartitionPosition",
    "PgSlotObservation",
    "PositionCheck",
    "RetentionBound",
    "SinkPositions",
    "TopicRetention",
    "WalRate",
    "WalSample",
    "auto_resume_due",
    "binlog_expiry_seconds",
    "carried_wal_rate",
    "check_position",
    "choose_source_bound",
    "combine",
    "configured_bound",
    "deadline_moved",
    "kafka_bound",
    "lsn_text",
    "mysql_bound",
    "offset_position",
    "postgres_bound",
    "postgres_bounds",
    "postgres_idle_bound",
    "postgres_wal_bound",
    "records_to_read",
    "sqlserver_bound",
    "unread_offset",
    "update_wal_rate",
    "wal_rate_between",
]
