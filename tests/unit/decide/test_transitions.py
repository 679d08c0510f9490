"""Conditions keep their transition times across passes (decide.conditions.merge in decide)."""

from __future__ import annotations

from syncjob_operator.decide import reconcile
from tests.unit.decide.builders import (
    EARLIER,
    NOW_TEXT,
    PAUSED_JOB,
    RUNNING_JOB,
    before,
    cond,
    ctx,
    error,
    seen,
    sink,
    src,
)


def test_last_transition_time_changes_only_on_a_flip() -> None:
    previous = before(
        "Paused",
        conditions=[
            cond("Ready", "True", "Paused"),
            cond("Reconciling", "False", "Converged"),
            cond("Stalled", "False", "NotStalled"),
            cond("Paused", "True", "Paused"),
            cond("RetentionAtRisk", "False", "DeadlineFar"),
            cond("RetentionExceeded", "False", "WithinRetention"),
        ],
    )
    # A connector resumed by hand: Ready and Paused flip, the others keep their times.
    plan = reconcile.decide(PAUSED_JOB, seen(src("RUNNING"), sink("PAUSED")), ctx(previous))
    times = {c.type: (c.status, c.last_transition_time) for c in plan.status.conditions}
    assert times == {
        "Ready": ("False", NOW_TEXT),
        "Reconciling": ("True", NOW_TEXT),
        "Stalled": ("False", EARLIER),
        "Paused": ("False", NOW_TEXT),
        "RetentionAtRisk": ("Unknown", NOW_TEXT),
        "RetentionExceeded": ("False", EARLIER),
    }


def test_reason_change_without_flip_keeps_time() -> None:
    previous = before("Pausing", conditions=[cond("Ready", "False", "Pausing")])
    plan = reconcile.decide(
        PAUSED_JOB,
        seen(src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]),
        ctx(previous),
    )
    ready = plan.status.conditions[0]
    assert (ready.type, ready.reason, ready.last_transition_time) == (
        "Ready",
        "ConnectUnreachable",
        EARLIER,
    )


def test_conditions_of_others_are_kept() -> None:
    theirs = cond("example.com/Audited", "True", "Audited")
    plan = reconcile.decide(
        RUNNING_JOB,
        seen(src("RUNNING"), sink("RUNNING")),
        ctx(before("Running", conditions=[theirs])),
    )
    assert plan.status.conditions[-1] == theirs
