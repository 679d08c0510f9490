"""SQL Server's answers as the probe reads them: LSNs, and the result rows it maps.

Why this exists: what the SQL Server probe reads is tested on recorded rows
only (no SQL Server runs where this was written; see
:mod:`syncjob_operator.probes.sqlserver`), so the parsing of those rows, and
of Debezium's ``commit_lsn`` into the 10 bytes the queries take, is kept
apart from the driver and its I/O: pure functions, fed tuples and dicts as
pytds returns them.  Used by the SQL Server probe and by the prober that
picks the earliest commit LSN; not one of the independent probes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

from syncjob_operator.decide import retention

_DEBEZIUM_LSN = re.compile(r"([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})")

Row = Mapping[str, object] | Sequence[object]


def commit_lsn_literal(lsn: str) -> str:
    """Debezium's ``commit_lsn`` ("0000002a:00000c38:0003") as a binary(10) literal."""
    match = _DEBEZIUM_LSN.fullmatch(lsn.strip())
    if not match:
        raise ValueError(
            f"invalid SQL Server LSN {lsn!r}: expected hex 8:8:4, e.g. 0000002a:00000c38:0003"
        )
    return "0x" + "".join(match.groups()).upper()


def commit_lsn_bytes(lsn: str) -> bytes:
    """The 10 bytes of a validated commit LSN: the query parameter."""
    return bytes.fromhex(commit_lsn_literal(lsn)[2:])


def offset_commit_lsn(offset: Mapping[str, object]) -> str | None:
    """The ``commit_lsn`` of a Debezium SQL Server source offset, if it has one."""
    value = offset.get("commit_lsn")
    return str(value) if value else None


def _cell(row: Row, name: str, index: int) -> object:
    """A column of a row as pytds returns it: a dict (as_dict) or a tuple (in SELECT order)."""
    if isinstance(row, Mapping):
        return row.get(name)
    return row[index] if len(row) > index else None


def retention_minutes_from_rows(rows: Sequence[Row]) -> int | None:
    """The cleanup job's retention in minutes; None when there is no cleanup job."""
    if not rows:
        return None
    value = _cell(rows[0], "retention", 0)
    if value is None:
        return None
    minutes = int(str(value))
    if minutes <= 0:
        raise ValueError(f"cdc_jobs.retention is {minutes}: expected a positive number of minutes")
    return minutes


def _utc(value: datetime, offset_minutes: object) -> datetime:
    """A server local time as UTC, with the server's offset (minutes east of UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone(timedelta(minutes=int(str(offset_minutes or 0)))))
    return value.astimezone(UTC)


def capture_instances_from_rows(rows: Sequence[Row]) -> tuple[retention.CaptureInstance, ...]:
    """Each capture instance with its minimum LSN (None for the server's all-zero answer)."""
    found: list[retention.CaptureInstance] = []
    for row in rows:
        name = _cell(row, "capture_instance", 0)
        raw = _cell(row, "min_lsn", 1)
        created = _cell(row, "create_date", 2)
        if not isinstance(name, str) or not name:
            raise ValueError(f"capture_instance is {name!r}, expected a name")
        if raw is not None and not isinstance(raw, bytes | bytearray):
            raise ValueError(f"min_lsn is {type(raw).__name__}, expected binary(10)")
        if raw is not None and len(raw) != 10:
            raise ValueError(f"min_lsn has {len(raw)} bytes, expected 10")
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created is not None and not isinstance(created, datetime):
            raise ValueError(f"create_date is {type(created).__name__}, expected a datetime")
        found.append(
            retention.CaptureInstance(
                name=name,
                min_lsn=bytes(raw) if raw is not None and any(raw) else None,
                created=_utc(created, _cell(row, "utc_offset_minutes", 3)) if created else None,
            )
        )
    return tuple(found)


def commit_time_from_rows(rows: Sequence[Row]) -> datetime | None:
    """The offset's commit time as an aware UTC datetime; None when the server cannot map it.

    The server's offset is today's, so a daylight-saving change between the
    commit and now shifts the answer by that hour.
    """
    if not rows:
        return None
    value = _cell(rows[0], "commit_time", 0)
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"commit_time is {type(value).__name__}, expected a datetime")
    return _utc(value, _cell(rows[0], "utc_offset_minutes", 1))
