"""PostgreSQL retention: the smoothed WAL rate, the slot bounds, the probe's recorded rows.

The formulas are pure (decide.retention.postgresql); the rows are shaped like
what the probe's queries return (probes.postgresql parses them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import postgresql

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MiB = 1024 * 1024


# --- WAL rate ---


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
        # Rising: half-life 10 s, so after 10 s half-way to the new rate,
        # after 30 s (the operator's default probe interval) seven eighths of it.
        (100.0, 300.0, 10, 200.0),
        (100.0, 300.0, 30, 275.0),
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


@pytest.mark.parametrize(("probe_every", "within_s"), [(2, 26), (30, 30)])
def test_a_doubled_rate_is_followed_within_half_a_minute(probe_every: int, within_s: int) -> None:
    """A rising rate brings the deadline in, so the estimate follows it fast: within 10 %
    of a doubled rate in about 25 s (sampled every 2 s), in one probe at the default 30 s.
    (The bench, tests/bench/test_deadline_accuracy.py, measures it on a real server.)"""
    rate = 512 * 1024
    state = retention.update_wal_rate(None, sample(0, 0))
    lsn, t = 0, 0
    for _ in range(300 // probe_every):  # five minutes at the first rate
        lsn, t = lsn + rate * probe_every, t + probe_every
        state = retention.update_wal_rate(state, sample(lsn, t))
    doubled_at, followed_at = t, None
    while followed_at is None and t < doubled_at + 300:
        lsn, t = lsn + 2 * rate * probe_every, t + probe_every
        state = retention.update_wal_rate(state, sample(lsn, t))
        assert state.bytes_per_second is not None
        if state.bytes_per_second >= 0.9 * 2 * rate:
            followed_at = t
    assert followed_at is not None and followed_at - doubled_at <= within_s


def test_update_wal_rate_resets_when_the_lsn_goes_back() -> None:
    previous = retention.WalRate(bytes_per_second=500.0, last=sample(10_000, 0), samples=9)
    state = retention.update_wal_rate(previous, sample(5_000, 10))
    assert state.bytes_per_second is None and state.samples == 1


def test_update_wal_rate_ignores_a_sample_at_the_same_instant() -> None:
    previous = retention.WalRate(bytes_per_second=500.0, last=sample(10_000, 0), samples=9)
    assert retention.update_wal_rate(previous, sample(20_000, 0)) is previous


# --- the slot's bounds ---


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
        # Unreserved, or safe_wal_size used up: the next checkpoint removes WAL it
        # needs.  Not lost yet; wal_status is what says so, hence the basis.
        (
            pg(wal_status="unreserved", safe_wal_size=-512 * 1024),
            MiB,
            retention.PG_WAL_STATUS,
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
        "walSampleLsn": "0/6400000",
        "walSampledAt": "2026-11-24T10:00:00.000000Z",
    }
    assert "30.0 MiB" in bound.message and "2.0 KiB/s" in bound.message


@pytest.mark.parametrize(
    "obs",
    [
        pg(),
        pg(wal_status="extended"),
        pg(wal_status="unreserved", safe_wal_size=-MiB),
        pg(safe_wal_size=0),
        pg(wal_status="lost", safe_wal_size=None),
        pg(max_slot_wal_keep_size_bytes=None, safe_wal_size=None),
    ],
    ids=["reserved", "extended", "unreserved", "safe-used-up", "lost", "unlimited"],
)
def test_every_slot_bound_is_checked_by_the_slot_itself(obs: retention.PgSlotObservation) -> None:
    """wal_status is the server's word: a deadline passed is a risk, only lost is a loss."""
    bound = retention.postgres_wal_bound(obs, MiB, now=T0)
    assert bound.checked
    later = T0 + timedelta(days=1)
    assert bound.lost_at(later) is bound.lost


def test_unreserved_is_a_risk_due_now_and_says_the_wal_is_still_there() -> None:
    bound = retention.postgres_wal_bound(
        pg(wal_status="unreserved", safe_wal_size=-2 * MiB), MiB, now=T0
    )
    assert (bound.deadline, bound.lost, bound.checked) == (T0, False, True)
    assert not bound.lost_at(T0 + timedelta(hours=1))
    assert "still there" in bound.message and "next checkpoint" in bound.message
    assert "-2.0 MiB" in bound.message


def test_a_server_without_wal_status_is_not_checked() -> None:
    """PostgreSQL 12 says nothing about the slot's WAL (and has no limit either)."""
    obs = pg(
        server_version_num=120017,
        wal_status=None,
        safe_wal_size=None,
        max_slot_wal_keep_size_bytes=None,
    )
    assert not retention.postgres_wal_bound(obs, MiB, now=T0).checked


def test_the_idle_timeout_is_checked_by_the_slot_itself() -> None:
    obs = pg(
        server_version_num=180000,
        active=False,
        inactive_since=T0,
        idle_replication_slot_timeout_seconds=60,
    )
    idle = retention.postgres_idle_bound(obs)
    assert idle is not None and idle.checked
    assert not idle.lost_at(T0 + timedelta(hours=1))


# --- the rate carried over a restart, from status ---


@pytest.mark.parametrize(
    ("rate", "lsn", "at", "expected"),
    [
        (
            4096.0,
            "0/6400000",
            T0,
            retention.WalRate(bytes_per_second=4096.0, last=sample(100 * MiB, 0)),
        ),
        # A sample without a rate yet: the next probe measures one at once.
        (None, "1/0", T0, retention.WalRate(bytes_per_second=None, last=sample(1 << 32, 0))),
        (4096.0, None, T0, None),  # no sample: measure afresh
        (4096.0, "0/6400000", None, None),
        (4096.0, "not-an-lsn", T0, None),
        (-1.0, "0/6400000", T0, None),  # no rate is negative: not one we wrote
    ],
)
def test_carried_wal_rate(
    rate: float | None, lsn: str | None, at: datetime | None, expected: retention.WalRate | None
) -> None:
    assert retention.carried_wal_rate(rate, lsn, at) == expected


def test_a_carried_rate_goes_on_as_if_no_process_had_stopped() -> None:
    """The sample status kept, and the next one minutes later: the same rate as without a stop."""
    steady = 10 * 1024.0
    state = retention.update_wal_rate(None, sample(0, 0))
    for t in range(30, 301, 30):
        state = retention.update_wal_rate(state, sample(int(steady * t), t))
    bound = retention.postgres_wal_bound(
        pg(current_lsn=state.last.lsn, observed_at=state.last.at), state.bytes_per_second, now=T0
    )
    figures = bound.figures
    assert isinstance(figures["walBytesPerSecond"], float)
    assert isinstance(figures["walSampleLsn"], str) and isinstance(figures["walSampledAt"], str)
    carried = retention.carried_wal_rate(
        figures["walBytesPerSecond"],
        figures["walSampleLsn"],
        datetime.fromisoformat(figures["walSampledAt"]),
    )
    assert carried is not None and carried.last == state.last
    after = retention.update_wal_rate(carried, sample(int(steady * 420), 420))
    assert after.bytes_per_second == pytest.approx(steady)


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
