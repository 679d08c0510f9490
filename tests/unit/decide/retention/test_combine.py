"""Which bound binds, spec.source.retention, and what it means now (decide.retention.combine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syncjob_operator.decide import retention

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_configured_bound() -> None:
    bound = retention.configured_bound(timedelta(hours=72), paused_at=T0)
    assert bound.basis == "spec.source.retention"
    assert bound.deadline == T0 + timedelta(hours=72)
    assert bound.figures == {"retentionSeconds": 259200}
    assert "3d" in bound.message


def b(basis: str, deadline: datetime | None, lost: bool = False) -> retention.RetentionBound:
    return retention.RetentionBound(basis, deadline, lost, "R", "m.")


@pytest.mark.parametrize(
    ("bounds", "winner"),
    [
        ([], None),
        ([None, None], None),
        ([b("pg", T0 + 5 * H), b("kafka", T0 + 2 * H)], "kafka"),
        ([b("pg", T0 + 5 * H), None, b("kafka", T0 + 7 * H)], "pg"),
        ([b("pg", None), b("kafka", T0 + 7 * H)], "kafka"),
        ([b("pg", None), b("kafka", None)], "pg"),  # no deadline anywhere: the first explains
        ([b("kafka", T0 + H), b("pg", None, lost=True)], "pg"),  # lost wins over any deadline
        ([b("a", T0 + H), b("b", T0 + H)], "a"),  # ties: the first
    ],
)
def test_combine(bounds: list[retention.RetentionBound | None], winner: str | None) -> None:
    bound = retention.combine(bounds)
    assert (bound.basis if bound else None) == winner


@pytest.mark.parametrize(
    ("database", "configured", "winner"),
    [
        (b("pg", T0 + 5 * H), b("spec", T0 + 70 * H), "spec"),  # the user's figure wins where set
        (b("pg", T0 + 5 * H), None, "pg"),
        (None, b("spec", T0 + 70 * H), "spec"),  # e.g. Oracle, or a failed probe
        (b("pg", None, lost=True), b("spec", T0 + 70 * H), "pg"),  # but a loss is believed
        (None, None, None),
    ],
)
def test_choose_source_bound(
    database: retention.RetentionBound | None,
    configured: retention.RetentionBound | None,
    winner: str | None,
) -> None:
    bound = retention.choose_source_bound(database, configured)
    assert (bound.basis if bound else None) == winner


@pytest.mark.parametrize(
    ("bound", "before", "due"),
    [
        (b("x", T0 + 2 * H), timedelta(minutes=30), False),
        (b("x", T0 + timedelta(minutes=30)), timedelta(minutes=30), True),
        (b("x", T0 + timedelta(minutes=10)), timedelta(minutes=30), True),
        (
            b("x", T0 - H),
            timedelta(minutes=30),
            True,
        ),  # late, but resuming still saves what is left
        (b("x", T0 + timedelta(minutes=10)), None, False),  # not asked for
        (b("x", None), timedelta(minutes=30), False),
        (b("x", None, lost=True), timedelta(minutes=30), False),  # too late: a snapshot is needed
        (None, timedelta(minutes=30), False),
    ],
)
def test_auto_resume_due(
    bound: retention.RetentionBound | None, before: timedelta | None, due: bool
) -> None:
    assert retention.auto_resume_due(bound, now=T0, auto_resume_before=before) is due


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [
        (None, None, False),
        (None, T0 + H, True),
        (T0 + H, None, True),
        (T0 + 10 * H, T0 + 10 * H + timedelta(minutes=5), False),  # 5 min of 10 h: noise
        (T0 + 10 * H, T0 + 9 * H, True),  # an hour of 10 h: moved
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=10, seconds=50), False),  # < 1 min
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=12), True),
    ],
)
def test_deadline_moved(old: datetime | None, new: datetime | None, moved: bool) -> None:
    assert retention.deadline_moved(old, new, now=T0) is moved


def test_offsets_and_timezones_stay_aware() -> None:
    east = timezone(timedelta(hours=2))
    bound = retention.configured_bound(timedelta(hours=1), paused_at=T0.astimezone(east))
    assert bound.deadline == T0 + H
