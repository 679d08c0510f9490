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
    """Bytes and records per second drained since each measure began its last fall.

    The fall is from the highest value among ``samples`` (the latest of
    equals) to the newest; it began at the lowest value before that peak (the
    latest of equals): the peak itself after a plateau, the foot of the rise
    when the measure grew first.  Not from the oldest sample: after a resume
    the samples before the fall are the plateau probed while paused, which
    reads the drain as slower than it is.  And not from the peak alone when
    there was a rise: a sink lag grows while Debezium sends faster than the
    sink writes, and the sink's consumer group commits in steps of a whole
    poll (hundreds of records), so the first probe after the peak often saw a
    step the sink worked on since the rise began, and the first estimates
    came out several times too short (the e2e: 3 s and 17 s for 22 s and 80 s).

    None where a measure was not in two samples, or did not fall from its
    peak (nothing drains, or the source writes faster than the job reads: no
    estimate can be made).
    """

    def rate(points: list[tuple[datetime, int]]) -> float | None:
        if len(points) < 2:
            return None
        last_at, last = points[-1]
        peak = max(range(len(points)), key=lambda i: (points[i][1], i))
        began = min(range(peak + 1), key=lambda i: (points[i][1], -i))
        began_at, peak_value = points[began][0], points[peak][1]
        seconds = (last_at - began_at).total_seconds()
        if seconds <= 0 or last >= peak_value:
            return None
        return (peak_value - last) / seconds

    return (
        rate([(s.at, s.backlog_bytes) for s in samples if s.backlog_bytes is not None]),
        rate([(s.at, s.sink_lag) for s in samples if s.sink_lag is not None]),
    )


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
