"""PostgreSQL: a replication slot's retained WAL, and the WAL rate that spends it.

A paused Debezium PostgreSQL connector's events live in the WAL its slot holds
back.  The server keeps ``safe_wal_size`` more bytes of it (13+) before the
slot is lost; at the measured WAL rate that is the deadline.  PostgreSQL 18's
``idle_replication_slot_timeout`` invalidates a slot that stays inactive (a
stopped connector) for that long.

Every slot bound is *checked* (13+): the slot's ``wal_status`` is the
server's own word on whether the WAL is still there, so a predicted deadline
that passes is a risk to act on, and only ``lost`` (or an invalidation) is a
loss.  ``unreserved`` is the last warning: beyond ``max_slot_wal_keep_size``
but not removed until the next checkpoint, and undone if the slot advances
or the keep size grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.decide.retention.combine import Figure, RetentionBound, combine

# --- bases: where a deadline comes from (status.retention.basis) -------------
PG_SAFE_WAL_SIZE = "postgresql:safe_wal_size"
PG_UNLIMITED = "postgresql:max_slot_wal_keep_size=-1"
PG_WAL_STATUS = "postgresql:wal_status"
PG_INVALIDATED = "postgresql:invalidation_reason"
PG_IDLE_TIMEOUT = "postgresql:idle_replication_slot_timeout"

# Beyond this, "the deadline" is noise (a WAL rate of a few bytes a second):
# report no deadline rather than a date centuries away.
HORIZON = timedelta(days=3650)


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
# Why 10 s to rise: a rate still catching up makes the deadline late, the one
# error that loses events.  Measured on a real server (tests/bench/
# test_deadline_accuracy.py, a probe every 2 s), a doubled rate is followed to
# within 10 % in about 25 s (it took longer than the 45 s left with 30 s), at
# a cost of a percent or so earlier on a steady rate; at the default 30 s
# probe interval seven eighths of a rise is taken at the next probe.
RISE_HALF_LIFE = timedelta(seconds=10)
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


def carried_wal_rate(
    bytes_per_second: float | None, sample_lsn: str | None, sampled_at: datetime | None
) -> WalRate | None:
    """The rate as status last recorded it, to go on from after a restart; None if incomplete.

    Status keeps the rate with the sample it was measured up to
    (``walSampleLsn``, ``walSampledAt``): the next sample, however much later,
    folds into it as if no process had stopped in between.  An LSN that does
    not parse gives None (start measuring again), never a guess.
    """
    if sample_lsn is None or sampled_at is None:
        return None
    try:
        lsn = units.parse_lsn(sample_lsn)
    except ValueError:
        return None
    if bytes_per_second is not None and bytes_per_second < 0:
        return None
    sample = WalSample(lsn=lsn, at=sampled_at)
    return WalRate(bytes_per_second=bytes_per_second, last=sample, samples=1)


def _pg_figures(obs: PgSlotObservation, rate: float | None) -> dict[str, Figure]:
    # The sample goes with the rate, so that status can carry both over a restart.
    figures: dict[str, Figure] = {
        "slotName": obs.slot_name,
        "active": obs.active,
        "walSampleLsn": units.format_lsn(obs.current_lsn),
        "walSampledAt": units.rfc3339(obs.observed_at, fraction=True),
    }
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
    the slot needs: the deadline is ``now``, a risk and not yet a loss.  The
    unreserved bound's basis is ``wal_status`` (that is what says so), so the
    deadline written for it is replaced, not kept, once the slot is reserved
    again.  Checked from 13 on, where the slot has a ``wal_status``.
    """
    slot = obs.slot_name
    figures = _pg_figures(obs, wal_bytes_per_second)
    checked = obs.wal_status is not None

    def bound(
        reason: str,
        message: str,
        *,
        basis: str = PG_SAFE_WAL_SIZE,
        deadline: datetime | None = None,
        lost: bool = False,
    ) -> RetentionBound:
        return RetentionBound(basis, deadline, lost, reason, message, figures, checked)

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
    if obs.wal_status == "unreserved":
        beyond = "" if safe is None else f" (safe_wal_size {units.format_bytes(safe)})"
        return bound(
            "SlotUnreserved",
            f"Replication slot {slot} is beyond max_slot_wal_keep_size{beyond}: the WAL it "
            "needs is still there, but the next checkpoint removes it.",
            basis=PG_WAL_STATUS,
            deadline=now,
        )
    if safe is None:
        return bound("SafeWalSizeUnknown", f"The server reported no safe_wal_size for slot {slot}.")
    if safe <= 0:
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
        # The server invalidates the slot and says so (invalidation_reason):
        # until it does, the timeout passed is a risk, not a loss.
        checked=True,
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
