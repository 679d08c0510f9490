"""What a backlog probe saw: how far behind the job is, as plain values.

Why this exists: the catch-up decision (:mod:`.catchup`) and the decision's
context (:mod:`.plan`) both speak of a sample of the backlog; the values and
the few pure readings of them (the source time in Debezium's offsets, the
drain rate over recent samples) live here, below both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One probe of how far behind the job is; None where the probe could not tell."""

    at: datetime
    backlog_bytes: int | None = None
    sink_lag: int | None = None
    last_event_time: datetime | None = None

    @property
    def measured(self) -> bool:
        return self.backlog_bytes is not None or self.sink_lag is not None


@dataclass(frozen=True)
class Measure:
    """The latest sample and the drain rates measured over the recent ones."""

    sample: Sample
    bytes_per_second: float | None = None
    records_per_second: float | None = None


# Debezium's source time of the change an offset stands for: PostgreSQL ts_usec,
# MySQL/MariaDB ts_sec, SQL Server ts_ms (seen in the offsets the e2e pipelines read).
_TS_KEYS = (("ts_usec", 1e-6), ("ts_ms", 1e-3), ("ts_sec", 1.0))


def event_time(offsets: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The newest source time among committed source offsets; None when none carries one."""
    newest: datetime | None = None
    for offset in offsets:
        for key, scale in _TS_KEYS:
            value = offset.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                moment = datetime.fromtimestamp(value * scale, tz=UTC)
                newest = moment if newest is None or moment > newest else newest
                break
    return newest


def drain_rates(samples: Sequence[Sample]) -> tuple[float | None, float | None]:
    """Bytes and records per second drained between the oldest and newest sample.

    None where a measure was not in both, or did not fall (nothing drains, or
    the source writes faster than the job reads: no estimate can be made).
    """
    if len(samples) < 2:
        return None, None
    first, last = samples[0], samples[-1]
    seconds = (last.at - first.at).total_seconds()
    if seconds <= 0:
        return None, None

    def rate(a: int | None, b: int | None) -> float | None:
        if a is None or b is None or b >= a:
            return None
        return (a - b) / seconds

    return rate(first.backlog_bytes, last.backlog_bytes), rate(first.sink_lag, last.sink_lag)


def binlog_position(offsets: Iterable[Mapping[str, Any]]) -> tuple[str, int] | None:
    """The furthest-behind binlog position (``file``, ``pos``) among MySQL/MariaDB offsets."""
    positions = [
        (str(o["file"]), int(o["pos"]))
        for o in offsets
        if isinstance(o.get("file"), str) and isinstance(o.get("pos"), int)
    ]
    return min(positions) if positions else None


def binlog_backlog(logs: Sequence[tuple[str, int]], position: tuple[str, int]) -> int | None:
    """Binlog bytes from ``position`` to the end of the newest log (``SHOW BINARY LOGS``).

    None when the position's file is no longer listed (purged: not a backlog
    any more, a loss, which the retention bound reports).
    """
    names = [name for name, _ in logs]
    file, pos = position
    if file not in names:
        return None
    at = names.index(file)
    return max(0, logs[at][1] - pos) + sum(size for _, size in logs[at + 1 :])
