"""MySQL and MariaDB: how long the server keeps binlog files, and whether it still has the job's.

A paused Debezium MySQL/MariaDB connector's events live in binlog files, which
the server purges once they are older than ``binlog_expire_logs_seconds`` (or
``expire_logs_days``).  Two things come out of it:

- a deadline, counted from the earlier of the pause and the source time of
  the connector's committed position (``ts_sec`` of its offset): a connector
  that lagged when it paused has older events to lose;
- whether the change log is already gone, which the server itself tells
  (:func:`check_position`): by GTIDs where the position has them (the
  oldest binlog's Gtid_list on MariaDB, ``@@gtid_purged`` on MySQL), else by
  whether its binlog file is still listed.  A bound the server could answer
  for is ``checked``: its clock deadline passing is a risk, and only a purged
  position is a loss.

A purged position while a binlog reader of the job's account is still
connected is not reported lost: a paused Debezium task keeps its binlog
connection and reads on into memory, so its events are held there (until the
task restarts) and a resume delivers them.  It is a risk to act on at once.
docs/design.md argues it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from syncjob_operator import units
from syncjob_operator.decide.retention import gtids
from syncjob_operator.decide.retention.combine import Figure, RetentionBound

MYSQL_EXPIRE = "mysql:binlog_expire_logs_seconds"
MARIADB_EXPIRE = "mariadb:binlog_expire_logs_seconds"
# The server no longer has what the job's committed position needs.
MYSQL_PURGED = "mysql:binlog_purged"
MARIADB_PURGED = "mariadb:binlog_purged"

Flavor = Literal["mysql", "mariadb"]


@dataclass(frozen=True)
class BinlogSettings:
    """What a MySQL or MariaDB server says about its binary log.

    ``expire_logs_seconds`` is ``@@binlog_expire_logs_seconds`` (MySQL 8.0+,
    MariaDB 10.6+; None where the variable does not exist);
    ``expire_logs_days`` is ``@@expire_logs_days`` (gone in MySQL 8.4;
    fractional in MariaDB, where the two are one setting).
    """

    flavor: Flavor
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


@dataclass(frozen=True)
class BinlogPosition:
    """Where a Debezium MySQL/MariaDB connector resumes: its committed source offset.

    ``gtids`` are the transactions completed before the position (MariaDB:
    ``0-1-10``; MySQL: a GTID set), ``file``/``pos`` the binlog coordinates,
    ``ts_sec`` the source time of the last event read (0 or missing: unknown).
    """

    file: str | None = None
    pos: int | None = None
    gtids: str | None = None
    ts_sec: int | None = None

    @property
    def time(self) -> datetime | None:
        return datetime.fromtimestamp(self.ts_sec, UTC) if self.ts_sec else None

    def describe(self) -> str:
        if self.gtids:
            return f"GTIDs {self.gtids}"
        return f"{self.file}:{self.pos}" if self.pos is not None else f"{self.file}"


def offset_position(offset: Mapping[str, Any]) -> BinlogPosition | None:
    """The binlog position in a Debezium source offset; None when it is not one.

    A MySQL/MariaDB offset has ``file`` and ``pos`` (and ``gtids`` where the
    server has GTIDs); other sources' offsets (an LSN, a commit_lsn) have
    neither and read as None.
    """
    file, position_gtids = offset.get("file"), offset.get("gtids")
    if not isinstance(file, str) and not isinstance(position_gtids, str):
        return None

    def number(key: str) -> int | None:
        value = offset.get(key)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, str) and value.isdigit() else None

    ts_sec = number("ts_sec")
    return BinlogPosition(
        file=file if isinstance(file, str) and file else None,
        pos=number("pos"),
        gtids=(position_gtids.strip() or None) if isinstance(position_gtids, str) else None,
        ts_sec=ts_sec if ts_sec and ts_sec > 0 else None,
    )


@dataclass(frozen=True)
class BinlogServerState:
    """What the server says it still has, read in one go by the probe.

    ``files`` is ``SHOW BINARY LOGS`` (oldest first); ``oldest_gtid_list`` the
    MariaDB Gtid_list event at the start of the oldest file (the GTIDs written
    before it; ``""`` when empty, None when not read); ``gtid_purged`` MySQL's
    ``@@global.gtid_purged``; ``readers`` the users of the connected binlog
    readers (``Binlog Dump`` threads) the probe's ``account`` can see (without
    the PROCESS privilege: only its own).  ``unreadable`` says why the server
    could not be asked (a missing privilege): then nothing is checked.
    """

    files: tuple[str, ...] = ()
    oldest_gtid_list: str | None = None
    gtid_purged: str | None = None
    readers: tuple[str, ...] = ()
    account: str = ""
    unreadable: str | None = None

    @property
    def job_readers(self) -> int:
        """Connected binlog readers logged in as the probe's account (the job's, if theirs)."""
        return sum(1 for user in self.readers if user == self.account)


@dataclass(frozen=True)
class PositionCheck:
    """Whether the server still has what a position needs: ``kept`` None when it cannot tell."""

    kept: bool | None
    detail: str  # a clause saying what was compared


def check_position(
    position: BinlogPosition, server: BinlogServerState, *, flavor: Flavor
) -> PositionCheck:
    """Whether ``server`` still has every binlog event after ``position``.

    By GTIDs when the position has them, since that is how Debezium
    reconnects (its ``file`` may name a purged file while nothing is
    missing); by the binlog file otherwise.  Checked against the real
    MariaDB: a GTID request below the oldest file's Gtid_list, or lacking a
    domain that list names, is refused with error 1236 ("Could not find GTID
    state requested by slave in any binlog files"), and one at or above it is
    served.
    """
    if server.unreadable is not None:
        return PositionCheck(None, f"the server could not be asked ({server.unreadable})")
    if not server.files:
        return PositionCheck(None, "the server lists no binlog files")
    oldest = server.files[0]
    if position.gtids and flavor == "mariadb":
        if server.oldest_gtid_list is None:
            return PositionCheck(None, f"the Gtid_list of binlog {oldest} could not be read")
        try:
            wanted = gtids.mariadb_positions(position.gtids)
            before = gtids.mariadb_positions(server.oldest_gtid_list)
        except ValueError as exc:
            return PositionCheck(None, str(exc))
        listed = server.oldest_gtid_list.strip("[] ") or "none"
        gaps = gtids.mariadb_gaps(wanted, before)
        if gaps:
            needs = ", ".join(g.describe() for g in gaps)
            return PositionCheck(
                False,
                f"the oldest binlog the server has, {oldest}, starts after GTIDs {listed}, "
                f"but the job's position {position.gtids} still needs {needs}",
            )
        return PositionCheck(
            True,
            f"the oldest binlog, {oldest}, starts after GTIDs {listed}, "
            f"not after the job's position {position.gtids}",
        )
    if position.gtids and flavor == "mysql":
        if server.gtid_purged is None:
            return PositionCheck(None, "@@gtid_purged could not be read")
        try:
            missing = gtids.mysql_missing(
                gtids.mysql_gtid_set(server.gtid_purged), gtids.mysql_gtid_set(position.gtids)
            )
        except ValueError as exc:
            return PositionCheck(None, str(exc))
        if missing:
            return PositionCheck(
                False,
                f"@@gtid_purged has {gtids.mysql_format(missing)}, which the job's position "
                "has not read",
            )
        return PositionCheck(True, "every GTID in @@gtid_purged is in the job's position")
    if not position.file:
        return PositionCheck(None, "the job's position names no binlog file")
    if position.file in server.files:
        return PositionCheck(True, f"the server still has binlog {position.file}")
    if _binlog_order(position.file, oldest):
        return PositionCheck(
            False,
            f"binlog {position.file} of the job's position is purged "
            f"(the oldest the server has is {oldest})",
        )
    return PositionCheck(
        None,
        f"binlog {position.file} of the job's position is not among the server's "
        f"({oldest} to {server.files[-1]})",
    )


def _binlog_order(file: str, oldest: str) -> bool:
    """Whether ``file`` is an older binlog of the same series as ``oldest`` (base.NNNNNN)."""
    base, _, number = file.rpartition(".")
    oldest_base, _, oldest_number = oldest.rpartition(".")
    return (
        base == oldest_base
        and number.isdigit()
        and oldest_number.isdigit()
        and int(number) < int(oldest_number)
    )


def mysql_bound(
    settings: BinlogSettings,
    *,
    paused_at: datetime,
    positions: Sequence[BinlogPosition] = (),
    server: BinlogServerState | None = None,
) -> RetentionBound:
    """deadline = min(pausedAt, the committed positions' source time) + binlog expiry.

    A binlog file is purged once it is older than the expiry (at rotation,
    FLUSH LOGS or startup). The file holding a position was last written at
    or after that position's event (``ts_sec``), so it lives at least until
    then + expiry; with several connectors, the one furthest behind binds.
    A position time after the pause (clock skew) counts from the pause.
    Without any ``ts_sec`` the deadline counts from the pause, which may be
    late (the connector may have lagged), and the message says so.

    ``server`` (what the server still has) makes the bound ``checked`` when
    every position could be compared with it: a position the server no
    longer has is ``lost`` (basis ``…:binlog_purged``), unless a binlog reader
    of the probe's account is still connected, which is most likely the
    paused task holding those events in memory: then it is due now (deadline
    = the anchor, already past) and not lost.
    """
    flavor = settings.flavor
    basis = MARIADB_EXPIRE if flavor == "mariadb" else MYSQL_EXPIRE
    purged_basis = MARIADB_PURGED if flavor == "mariadb" else MYSQL_PURGED
    expiry = binlog_expiry_seconds(settings)
    times = [t for t in (p.time for p in positions) if t is not None]
    position_time = min(times) if times else None
    behind = position_time is not None and position_time < paused_at
    anchor = position_time if position_time is not None and behind else paused_at
    figures: dict[str, Figure] = {
        "expireSeconds": expiry,
        "version": settings.version,
        "anchor": "position" if behind else "pausedAt",
    }
    if position_time is not None:
        figures["positionTime"] = units.rfc3339(position_time)
    at = units.rfc3339(anchor)
    if behind:
        since = f"the job's committed position dates from {at}, before the pause"
    elif position_time is not None:
        since = f"the job's committed position is no older than the pause at {at}"
    else:
        since = (
            f"the committed position's time is unknown, so this counts from the pause at {at} "
            "and may be late"
        )
    checks = [check_position(p, server, flavor=flavor) for p in positions] if server else []
    checked = bool(checks) and all(c.kept is not None for c in checks)
    if checked:
        kept = "; ".join(dict.fromkeys(c.detail for c in checks))
    elif server is None or not positions:
        kept = "whether the server still has it is not known (no committed position read)"
    else:
        kept = "whether the server still has it is not known: " + "; ".join(
            dict.fromkeys(c.detail for c in checks if c.kept is None)
        )

    def bound(
        reason: str,
        message: str,
        *,
        deadline: datetime | None = None,
        lost: bool = False,
        of: str = basis,
        answered: bool = checked,
    ) -> RetentionBound:
        return RetentionBound(of, deadline, lost, reason, message, figures, checked=answered)

    if not settings.log_bin:
        return bound(
            "BinlogDisabled",
            "The source has no binary log (log_bin is OFF): no change log is kept.",
            lost=True,
        )
    gone = [c.detail for c in checks if c.kept is False]
    if gone:
        what = "; ".join(dict.fromkeys(gone))
        if server is not None and server.job_readers:
            return bound(
                "BinlogHeldByReader",
                f"The source purged binlogs the job's committed position needs ({what}), but a "
                f"binlog reader of {server.account} is still connected, most likely the paused "
                "task, which holds those events in memory only: resume now, they are lost if "
                "the task or its worker restarts first.",
                deadline=anchor,
                of=purged_basis,
                # The server answered for the purged position, whatever it
                # said of the others: the passed deadline is not the loss.
                answered=True,
            )
        return bound(
            "BinlogPurged",
            f"The source purged binlogs the job's committed position still needs ({what}), and "
            "no binlog reader of the job is connected to hold them.",
            lost=True,
            of=purged_basis,
        )
    if expiry <= 0:
        return bound(
            "BinlogNeverExpires",
            "binlog_expire_logs_seconds and expire_logs_days are 0: binlogs are not purged "
            f"automatically; only PURGE BINARY LOGS or a full disk removes them ({kept}).",
        )
    expire = timedelta(seconds=expiry)
    return bound(
        "BinlogExpiry",
        f"The source purges binlogs after {units.format_duration(expire)}; {since}; {kept}.",
        deadline=anchor + expire,
    )
