"""Retention deadlines: how long a paused job can stay paused before it loses events.

Why this exists: every source keeps the change log a paused job has not read
only for a while, and each says so differently (a replication slot's
``safe_wal_size``, a binlog expiry, a CDC cleanup job, a topic's
``retention.ms``). This module turns what the probes observed into one
:class:`RetentionBound` per basis and picks the one that binds. DESIGN.md
section 3 has the facts behind each formula.

Everything here is purely computational, with no side effects and no I/O (the
import-linter contract for ``syncjob_operator.decide`` enforces it): the
probes in ``syncjob_operator.probes`` do the reading, the handlers call these
functions with what was read and with ``now``. So every formula is a table
test (``tests/unit/test_retention.py``).

Rules that hold throughout:

- A deadline is only ever computed from figures the source reported; when it
  cannot be (no limit, no WAL rate yet), ``deadline`` is None and ``message``
  says why: never a made-up number.
- Where a formula has to guess, it guesses early (the deadline is a lower
  bound on when events go missing).
- Messages and reprs never contain a password.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from syncjob_operator import units

# --- bases: where a deadline comes from (status.retention.basis) -------------
PG_SAFE_WAL_SIZE = "postgresql:safe_wal_size"
PG_UNLIMITED = "postgresql:max_slot_wal_keep_size=-1"
PG_WAL_STATUS = "postgresql:wal_status"
PG_INVALIDATED = "postgresql:invalidation_reason"
PG_IDLE_TIMEOUT = "postgresql:idle_replication_slot_timeout"
MYSQL_EXPIRE = "mysql:binlog_expire_logs_seconds"
MARIADB_EXPIRE = "mariadb:binlog_expire_logs_seconds"
SQLSERVER_CLEANUP = "sqlserver:cdc_cleanup_retention"
CONFIGURED = "spec.source.retention"
KAFKA_RETENTION = "kafka:retention.ms"

# Beyond this, "the deadline" is noise (a WAL rate of a few bytes a second):
# report no deadline rather than a date centuries away.
HORIZON = timedelta(days=3650)

Figure = int | float | str | bool


@dataclass(frozen=True)
class RetentionBound:
    """One source of a deadline, and the figures behind it.

    ``deadline`` None means this basis sets no deadline (an unlimited slot, an
    idle server, a rate not measured yet): ``reason`` and ``message`` say which.
    ``lost`` means the source reports the change log the job needs is gone.
    ``figures`` use the camelCase keys of ``status.retention``.
    """

    basis: str
    deadline: datetime | None
    lost: bool
    reason: str  # CamelCase, usable as a condition reason
    message: str  # one plain sentence for a condition or an Event
    figures: Mapping[str, Figure] = field(default_factory=dict)


# --- PostgreSQL ---------------------------------------------------------------


@dataclass(frozen=True)
class WalSample:
    """The server's WAL insert position at a moment (both from the server's clock)."""

    lsn: int
    at: datetime


@dataclass(frozen=True)
class WalRate:
    """The smoothed WAL write rate, carried from one probe to the next.

    ``bytes_per_second`` is None until two samples exist.
    """

    bytes_per_second: float | None
    last: WalSample
    samples: int = 1


# The rate rises fast and falls slowly: a burst of writes brings the deadline
# in at once (the slot fills at that pace), a lull moves it out only gradually,
# so the deadline does not swing back and forth with each sample and errs early.
RISE_HALF_LIFE = timedelta(seconds=30)
FALL_HALF_LIFE = timedelta(minutes=15)


def wal_rate_between(earlier: WalSample, later: WalSample) -> float | None:
    """Bytes per second between two samples; None when they cannot give a rate.

    None for a non-positive interval, and for an LSN that went backwards (a
    different or restored server: the old figures say nothing about it).
    """
    seconds = (later.at - earlier.at).total_seconds()
    if seconds <= 0 or later.lsn < earlier.lsn:
        return None
    return (later.lsn - earlier.lsn) / seconds


def update_wal_rate(
    previous: WalRate | None,
    sample: WalSample,
    *,
    rise_half_life: timedelta = RISE_HALF_LIFE,
    fall_half_life: timedelta = FALL_HALF_LIFE,
) -> WalRate:
    """Fold a new sample into the smoothed rate (an exponentially weighted average in time).

    The weight of the new sample is ``1 - 0.5 ** (interval / half_life)``, so
    irregular probe intervals weigh correctly, with the shorter half-life when
    the rate rises. The LSN going backwards resets the measurement.
    """
    if previous is None:
        return WalRate(bytes_per_second=None, last=sample, samples=1)
    if sample.lsn < previous.last.lsn:
        return WalRate(bytes_per_second=None, last=sample, samples=1)
    instant = wal_rate_between(previous.last, sample)
    if instant is None:  # same instant or clock went back: keep what we have
        return previous
    old = previous.bytes_per_second
    if old is None:
        rate = instant
    else:
        half_life = rise_half_life if instant > old else fall_half_life
        interval = (sample.at - previous.last.at).total_seconds()
        weight = 1.0 - 0.5 ** (interval / half_life.total_seconds())
        rate = old + weight * (instant - old)
    return WalRate(bytes_per_second=rate, last=sample, samples=previous.samples + 1)


@dataclass(frozen=True)
class PgSlotObservation:
    """One read of ``pg_replication_slots`` for the job's slot, with the server's settings.

    Columns a server version lacks are None (``wal_status``/``safe_wal_size``
    need 13, ``conflicting`` 16, ``invalidation_reason``/``inactive_since``
    17, ``idle_replication_slot_timeout`` 18).
    """

    slot_name: str
    server_version_num: int
    observed_at: datetime  # the server's clock_timestamp(), paired with current_lsn
    current_lsn: int
    active: bool
    wal_status: str | None  # reserved | extended | unreserved | lost
    safe_wal_size: int | None  # bytes; None when lost or when the keep size is unlimited
    restart_lsn: int | None
    confirmed_flush_lsn: int | None
    retained_bytes: int | None  # current_lsn - restart_lsn
    max_slot_wal_keep_size_bytes: int | None  # None: -1, unlimited
    plugin: str | None = None
    slot_type: str | None = None
    conflicting: bool | None = None
    invalidation_reason: str | None = None
    inactive_since: datetime | None = None
    idle_replication_slot_timeout_seconds: int | None = None  # 0/None: off

    @property
    def wal_sample(self) -> WalSample:
        return WalSample(lsn=self.current_lsn, at=self.observed_at)


def _pg_figures(obs: PgSlotObservation, rate: float | None) -> dict[str, Figure]:
    figures: dict[str, Figure] = {"slotName": obs.slot_name, "active": obs.active}
    if obs.wal_status is not None:
        figures["walStatus"] = obs.wal_status
    if obs.retained_bytes is not None:
        figures["retainedBytes"] = obs.retained_bytes
    if obs.safe_wal_size is not None:
        figures["safeBytes"] = obs.safe_wal_size
    if obs.max_slot_wal_keep_size_bytes is not None:
        figures["maxSlotWalKeepSizeBytes"] = obs.max_slot_wal_keep_size_bytes
    if rate is not None:
        figures["walBytesPerSecond"] = round(rate, 3)
    if obs.invalidation_reason is not None:
        figures["invalidationReason"] = obs.invalidation_reason
    return figures


def postgres_wal_bound(
    obs: PgSlotObservation, wal_bytes_per_second: float | None, *, now: datetime
) -> RetentionBound:
    """The slot's WAL bound: deadline = now + safe_wal_size / WAL rate.

    Lost when ``wal_status`` is ``lost`` or the slot carries an invalidation
    (17+: ``invalidation_reason``; 16+: ``conflicting``). ``unreserved`` (or a
    ``safe_wal_size`` at or below zero) means the next checkpoint removes WAL
    the slot needs: the deadline is ``now``.
    """
    slot = obs.slot_name
    figures = _pg_figures(obs, wal_bytes_per_second)

    def bound(
        reason: str,
        message: str,
        *,
        basis: str = PG_SAFE_WAL_SIZE,
        deadline: datetime | None = None,
        lost: bool = False,
    ) -> RetentionBound:
        return RetentionBound(basis, deadline, lost, reason, message, figures)

    if obs.invalidation_reason is not None or obs.conflicting:
        why = obs.invalidation_reason or "conflict with recovery"
        return bound(
            "SlotInvalidated",
            f"Replication slot {slot} was invalidated ({why}): the changes it held are gone "
            "and the job needs a new snapshot.",
            basis=PG_INVALIDATED,
            lost=True,
        )
    if obs.wal_status == "lost":
        return bound(
            "SlotLost",
            f"Replication slot {slot} is lost: the server removed WAL it still needed, so "
            "events are gone and the job needs a new snapshot.",
            basis=PG_WAL_STATUS,
            lost=True,
        )
    if obs.max_slot_wal_keep_size_bytes is None:
        retained = (
            "unknown" if obs.retained_bytes is None else units.format_bytes(obs.retained_bytes)
        )
        return bound(
            "WalRetentionUnlimited",
            f"max_slot_wal_keep_size is -1, so slot {slot} keeps WAL without limit "
            f"({retained} retained so far): the source's disk is the limit.",
            basis=PG_UNLIMITED,
        )
    safe = obs.safe_wal_size
    if safe is None:
        return bound("SafeWalSizeUnknown", f"The server reported no safe_wal_size for slot {slot}.")
    if safe <= 0 or obs.wal_status == "unreserved":
        return bound(
            "SlotUnreserved",
            f"Replication slot {slot} no longer reserves the WAL it needs (safe_wal_size "
            f"{units.format_bytes(safe)}): the next checkpoint removes it.",
            deadline=now,
        )
    room = f"Slot {slot} can take {units.format_bytes(safe)} more WAL"
    rate = wal_bytes_per_second
    if rate is None:
        return bound(
            "WalRateUnknown",
            f"{room}; the write rate is not measured yet (it needs two samples).",
        )
    if rate <= 0:
        return bound(
            "WalIdle",
            f"{room} and the server wrote none since the last sample: no deadline while it "
            "stays idle.",
        )
    left = timedelta(seconds=min(safe / rate, HORIZON.total_seconds() + 1))
    if left > HORIZON:
        return bound(
            "WalRateNegligible",
            f"{room}; at {units.format_bytes(rate)}/s that is more than ten years.",
        )
    return bound(
        "SafeWalSize",
        f"{room}; at {units.format_bytes(rate)}/s that lasts about {units.format_duration(left)}.",
        deadline=now + left,
    )


def postgres_idle_bound(obs: PgSlotObservation) -> RetentionBound | None:
    """PostgreSQL 18's ``idle_replication_slot_timeout`` for an inactive slot, if it applies.

    A paused connector keeps its slot active (no bound); a stopped one does
    not, and the server invalidates the slot once it has been inactive that long.
    """
    timeout = obs.idle_replication_slot_timeout_seconds
    if not timeout or obs.active or obs.inactive_since is None:
        return None
    deadline = obs.inactive_since + timedelta(seconds=timeout)
    return RetentionBound(
        basis=PG_IDLE_TIMEOUT,
        deadline=deadline,
        lost=False,
        reason="SlotIdleTimeout",
        message=(
            f"Slot {obs.slot_name} is inactive and idle_replication_slot_timeout is "
            f"{units.format_duration(timedelta(seconds=timeout))}: the server invalidates it then."
        ),
        figures={"slotName": obs.slot_name, "idleTimeoutSeconds": timeout},
    )


def postgres_bounds(
    obs: PgSlotObservation, wal_bytes_per_second: float | None, *, now: datetime
) -> list[RetentionBound]:
    """Every bound a slot observation gives (the WAL one, and the idle timeout when it applies)."""
    bounds = [postgres_wal_bound(obs, wal_bytes_per_second, now=now)]
    idle = postgres_idle_bound(obs)
    if idle is not None and not bounds[0].lost:
        bounds.append(idle)
    return bounds


def postgres_bound(
    obs: PgSlotObservation, wal_bytes_per_second: float | None, *, now: datetime
) -> RetentionBound:
    """The binding one of :func:`postgres_bounds`."""
    bound = combine(postgres_bounds(obs, wal_bytes_per_second, now=now))
    assert bound is not None  # postgres_bounds always has the WAL bound
    return bound


# --- MySQL and MariaDB ----------------------------------------------------------


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
    if not settings.log_bin:
        return RetentionBound(
            basis=basis,
            deadline=None,
            lost=True,
            reason="BinlogDisabled",
            message="The source has no binary log (log_bin is OFF): no change log is kept.",
            figures=figures,
        )
    if expiry <= 0:
        return RetentionBound(
            basis=basis,
            deadline=None,
            lost=False,
            reason="BinlogNeverExpires",
            message=(
                "binlog_expire_logs_seconds and expire_logs_days are 0: binlogs are not purged "
                "automatically; only PURGE BINARY LOGS or a full disk removes them."
            ),
            figures=figures,
        )
    expire = timedelta(seconds=expiry)
    return RetentionBound(
        basis=basis,
        deadline=anchor + expire,
        lost=False,
        reason="BinlogExpiry",
        message=(
            f"The source purges binlogs after {units.format_duration(expire)}; the job's position "
            f"dates from {anchor.isoformat()}."
        ),
        figures=figures,
    )


# --- SQL Server (recorded results only: no server to probe here) ---


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
            basis=SQLSERVER_CLEANUP,
            deadline=None,
            lost=False,
            reason="NoCdcCleanupJob",
            message="The database has no CDC cleanup job: change tables are not purged.",
            figures={},
        )
    retention = timedelta(minutes=retention_minutes)
    figures: dict[str, Figure] = {"retentionMinutes": retention_minutes}
    if commit_time is None:
        return RetentionBound(
            basis=SQLSERVER_CLEANUP,
            deadline=paused_at + retention,
            lost=False,
            reason="CdcCleanupRetention",
            message=(
                f"CDC cleanup keeps {units.format_duration(retention)} of changes; the offset's "
                "commit time is unknown, so this counts from the pause and may be late."
            ),
            figures=figures,
        )
    return RetentionBound(
        basis=SQLSERVER_CLEANUP,
        deadline=commit_time + retention,
        lost=False,
        reason="CdcCleanupRetention",
        message=(
            f"CDC cleanup keeps {units.format_duration(retention)} of changes; the job's position "
            f"was committed at {commit_time.isoformat()}."
        ),
        figures=figures,
    )


# --- spec.source.retention --------------------------------------------------------


def configured_bound(retention: timedelta, *, paused_at: datetime) -> RetentionBound:
    """deadline = pausedAt + spec.source.retention."""
    return RetentionBound(
        basis=CONFIGURED,
        deadline=paused_at + retention,
        lost=False,
        reason="ConfiguredRetention",
        message=f"spec.source.retention says the source keeps {units.format_duration(retention)}.",
        figures={"retentionSeconds": int(retention.total_seconds())},
    )


def choose_source_bound(
    database: RetentionBound | None, configured: RetentionBound | None
) -> RetentionBound | None:
    """spec.source.retention overrides what the database reports, except a loss.

    The user's figure wins where set (the database's setting may not be the
    whole story, e.g. a managed service's purge policy), but a database that
    says the change log is already gone is believed.
    """
    if database is not None and database.lost:
        return database
    return configured if configured is not None else database


# --- Kafka ------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRetention:
    """A topic's time and size retention, from describe_configs."""

    topic: str
    retention_ms: int  # -1: unlimited
    retention_bytes: int = -1  # per partition; -1: unlimited
    cleanup_policy: str = "delete"


def kafka_bound(
    topics: Iterable[TopicRetention],
    *,
    paused_at: datetime,
    position_time: datetime | None = None,
) -> RetentionBound | None:
    """deadline = pausedAt + the smallest ``retention.ms`` among the job's topics.

    Kafka deletes a segment when its newest record is older than retention.ms,
    so records the sink has not read when it paused live at least until then
    (``position_time``, the oldest unread record's time, anchors earlier when
    the sink lagged). Compacted-only topics and ``-1`` set no time limit.
    ``retention.bytes`` can delete sooner; it is reported, not turned into a
    date. None when there are no topics.
    """
    topic_list = list(topics)
    if not topic_list:
        return None
    anchor = min(paused_at, position_time) if position_time else paused_at
    sized = sorted(t.topic for t in topic_list if t.retention_bytes >= 0)
    size_note = (
        f" Size limits (retention.bytes) on {', '.join(sized)} can delete sooner." if sized else ""
    )
    timed = [
        t for t in topic_list if t.retention_ms >= 0 and "delete" in t.cleanup_policy.split(",")
    ]
    if not timed:
        return RetentionBound(
            basis=KAFKA_RETENTION,
            deadline=None,
            lost=False,
            reason="TopicRetentionUnlimited",
            message="The job's topics keep records without a time limit." + size_note,
            figures={"topics": ",".join(sorted(t.topic for t in topic_list))},
        )
    shortest = min(timed, key=lambda t: (t.retention_ms, t.topic))
    keep = timedelta(milliseconds=shortest.retention_ms)
    figures: dict[str, Figure] = {"topic": shortest.topic, "retentionMs": shortest.retention_ms}
    if shortest.retention_bytes >= 0:
        figures["retentionBytes"] = shortest.retention_bytes
    return RetentionBound(
        basis=KAFKA_RETENTION,
        deadline=anchor + keep,
        lost=False,
        reason="TopicRetention",
        message=f"Topic {shortest.topic} keeps records for {units.format_duration(keep)}."
        + size_note,
        figures=figures,
    )


# --- the binding bound, and what it means now --------------------------------------


def combine(bounds: Iterable[RetentionBound | None]) -> RetentionBound | None:
    """The bound that binds: a lost one first, else the earliest deadline.

    With no deadline anywhere, the first bound (it still explains why there is
    no deadline, e.g. an unlimited slot). None only when there are no bounds.
    """
    present = [b for b in bounds if b is not None]
    if not present:
        return None
    for bound in present:
        if bound.lost:
            return bound
    dated = [b for b in present if b.deadline is not None]
    if not dated:
        return present[0]
    return min(dated, key=lambda b: b.deadline or datetime.max)  # stable: first on ties


def auto_resume_due(
    bound: RetentionBound | None, *, now: datetime, auto_resume_before: timedelta | None
) -> bool:
    """Whether to resume by itself now: within ``auto_resume_before`` of a deadline not yet lost."""
    if auto_resume_before is None or bound is None or bound.lost or bound.deadline is None:
        return False
    return now >= bound.deadline - auto_resume_before


def deadline_moved(
    old: datetime | None, new: datetime | None, *, now: datetime, tolerance: float = 0.05
) -> bool:
    """Whether a recomputed deadline differs enough from the stored one to write status.

    A WAL-rate deadline moves a little on every probe; writing each wobble
    would churn the status. It has moved when it appears, disappears, or
    shifts by more than ``tolerance`` of the time left (at least a minute).
    """
    if old is None or new is None:
        return old is not new
    left = max((min(old, new) - now).total_seconds(), 0.0)
    return abs((new - old).total_seconds()) > max(60.0, tolerance * left)
