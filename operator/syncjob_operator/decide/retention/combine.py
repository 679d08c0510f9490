"""The retention bound, which of several binds, and what the binding one means now.

Every source module turns what its probe read into :class:`RetentionBound`
values; this module holds that type, the bound ``spec.source.retention``
gives, how a database's bound and the configured one are chosen between, and
which bound binds when there are several (source and Kafka).  It also answers
what the binding bound means now: whether to resume by itself, and whether a
recomputed deadline moved enough to be written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from syncjob_operator import units

CONFIGURED = "spec.source.retention"

Figure = int | float | str | bool


@dataclass(frozen=True)
class RetentionBound:
    """One source of a deadline, and the figures behind it.

    ``deadline`` None means this basis sets no deadline (an unlimited slot, an
    idle server, a rate not measured yet): ``reason`` and ``message`` say which.
    ``lost`` means the source reports the change log the job needs is gone.
    ``checked`` means the source itself says whether that change log is still
    there (a slot's ``wal_status``, the binlog files it lists, a partition's
    low watermark): a deadline passed is then a risk to act on now, and only
    ``lost`` is a loss.  Without it, a deadline passed is taken as a loss,
    since nothing else could tell.
    ``figures`` use the camelCase keys of ``status.retention``.
    """

    basis: str
    deadline: datetime | None
    lost: bool
    reason: str  # CamelCase, usable as a condition reason
    message: str  # one plain sentence for a condition or an Event
    figures: Mapping[str, Figure] = field(default_factory=dict)
    checked: bool = False

    def lost_at(self, now: datetime) -> bool:
        """Whether the change log the job needs is gone, as far as can be known at ``now``."""
        if self.lost:
            return True
        return not self.checked and self.deadline is not None and now >= self.deadline


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
