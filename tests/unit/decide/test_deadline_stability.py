"""A WAL-rate deadline wobbles with every probe; status is rewritten only when it moves.

decide() keeps the written deadline (and the retention figures behind it)
until the new one differs by more than 5% of the time left, at least a
minute (decide.retention.deadline_moved), so a paused job's status is not
rewritten at every probe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import reconcile, retention
from syncjob_operator.decide.observed import PAUSED, ConnectorState, Observed, TaskState
from syncjob_operator.decide.plan import Context

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SPEC = jobspec.SyncJobSpec(
    paused=True,
    connect=jobspec.ConnectSpec(url="http://connect:8083", connectors=["src"]),
)
SEEN = Observed(
    connectors=(
        ConnectorState(
            name="src",
            state=PAUSED,
            type="source",
            tasks=(TaskState(0, PAUSED),),
            offsets=({"lsn": 1},),
        ),
    )
)


def bound(deadline: datetime, safe: int) -> retention.RetentionBound:
    return retention.RetentionBound(
        basis=retention.PG_SAFE_WAL_SIZE,
        deadline=deadline,
        lost=False,
        reason="SafeWalSize",
        message=f"{safe} bytes of WAL may still be written",
        figures={"safeBytes": safe},
    )


def decide_at(
    now: datetime, b: retention.RetentionBound, previous: jobstatus.SyncJobStatus
) -> jobstatus.SyncJobStatus:
    ctx = Context(generation=2, now=now, previous=previous, retention=b)
    return reconcile.decide(SPEC, SEEN, ctx).status


def first() -> jobstatus.SyncJobStatus:
    previous = jobstatus.SyncJobStatus(
        observed_generation=2,
        stage="CDC",
        phase="Paused",
        paused_at=units.rfc3339(NOW - timedelta(hours=1)),
    )
    return decide_at(NOW, bound(NOW + timedelta(hours=10), 1_000_000), previous)


@pytest.mark.parametrize(
    ("shift", "rewritten"),
    [
        (timedelta(seconds=30), False),  # under a minute
        (timedelta(minutes=20), False),  # under 5% of 10 h
        (timedelta(minutes=-25), False),
        (timedelta(hours=1), True),  # 10%: it moved
        (timedelta(hours=-2), True),
    ],
)
def test_deadline_is_rewritten_only_when_it_moves(shift: timedelta, rewritten: bool) -> None:
    written = first()
    later = NOW + timedelta(seconds=30)
    again = decide_at(later, bound(NOW + timedelta(hours=10) + shift, 999_000), written)
    assert (again != written) is rewritten
    if not rewritten:
        assert again.retention == written.retention
