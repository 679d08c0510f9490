"""The decision, one pass per row: a paused job against its retention deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncjob_operator.api import jobstatus
from syncjob_operator.decide import reconcile
from syncjob_operator.decide.plan import (
    Pace,
)
from tests.helpers.decide_builders import (
    GEN,
    NOW_TEXT,
    PAUSED_BEFORE,
    PAUSED_JOB,
    PAUSED_STEADY,
    RUNNING_JOB,
    SNAPSHOT,
    Row,
    before,
    bound,
    check,
    check_whole,
    cond,
    ctx,
    error,
    job,
    pause,
    resume,
    row,
    seen,
    sink,
    src,
)

RETENTION_ROWS = [
    row(
        "checked-deadline-passed-is-at-risk-not-lost",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={
            "retention": bound(left=timedelta(minutes=-5), reason="SlotUnreserved", checked=True)
        },
        phase="Paused",
        conditions={
            "Ready": "True/Paused",
            "RetentionAtRisk": "True/SlotUnreserved",
            "RetentionExceeded": "False/WithinRetention",
        },
        events=["SlotUnreserved"],
    ),
    row(
        "unchecked-deadline-passed-is-a-loss",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=timedelta(minutes=-5))},
        phase="Paused",
        conditions={
            "Ready": "False/RetentionExceeded",
            "RetentionExceeded": "True/ChangeLogPurged",
        },
        events=["ChangeLogPurged"],
    ),
    row(
        "deadline-far",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=timedelta(days=3))},
        phase="Paused",
        conditions={
            "Ready": "True/Paused",
            "RetentionAtRisk": "False/DeadlineFar",
            "RetentionExceeded": "False/WithinRetention",
        },
    ),
    row(
        "deadline-within-warn-before",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=timedelta(hours=5))},
        phase="Paused",
        conditions={"Ready": "True/Paused", "RetentionAtRisk": "True/DeadlineNear"},
        events=["DeadlineNear"],
    ),
    row(
        "deadline-near-already-reported",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=before("Paused", conditions=[cond("RetentionAtRisk", "True", "DeadlineNear")]),
        context={"retention": bound(left=timedelta(hours=1))},
        phase="Paused",
        conditions={"RetentionAtRisk": "True/DeadlineNear"},
    ),
    row(
        "no-deadline-unlimited-slot",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=None, reason="Unlimited")},
        phase="Paused",
        conditions={"RetentionAtRisk": "False/Unlimited"},
    ),
    row(
        "retention-lost",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(lost=True)},
        phase="Paused",
        conditions={
            "Ready": "False/RetentionExceeded",
            "RetentionExceeded": "True/ChangeLogPurged",
            "RetentionAtRisk": "False/RetentionExceeded",
            "Paused": "True",
        },
        events=["ChangeLogPurged"],
    ),
    row(
        "deadline-passed-counts-as-lost",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=-timedelta(minutes=1))},
        phase="Paused",
        conditions={"Ready": "False/RetentionExceeded", "RetentionExceeded": "True"},
        events=["ChangeLogPurged"],
    ),
    row(
        "retention-probe-failed",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={
            "retention_errors": (error("SourceUnreachable", transient=True, backend="source"),)
        },
        phase="Paused",
        conditions={"Ready": "True/Paused", "RetentionAtRisk": "Unknown/SourceUnreachable"},
    ),
    row(
        "no-retention-source",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        phase="Paused",
        conditions={"RetentionAtRisk": "Unknown/NoRetentionSource"},
    ),
    row(
        "loss-stays-reported-after-resume",
        spec=RUNNING_JOB,
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before(
            "Resuming", conditions=[cond("RetentionExceeded", "True", "ChangeLogPurged")]
        ),
        phase="Running",
        conditions={
            "Ready": "False/RetentionExceeded",
            "RetentionExceeded": "True",
            "RetentionAtRisk": "False/NotPaused",
        },
        events=["Running"],
    ),
    row(
        "new-snapshot-clears-the-loss",
        spec=RUNNING_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        previous=before(
            "Running", conditions=[cond("RetentionExceeded", "True", "ChangeLogPurged")]
        ),
        phase="Running",
        conditions={"Ready": "True/Running", "RetentionExceeded": "False/WithinRetention"},
        events=["StageSnapshot"],
    ),
    # --- retentionPolicy.autoResumeBefore ---
    row(
        "auto-resume-due",
        spec=job(paused=True, auto_resume="30m"),
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=timedelta(minutes=20))},
        actions=[resume("src"), resume("sink")],
        phase="Resuming",
        conditions={"Ready": "False/Resuming", "Paused": "False/AutoResumed"},
        events=["AutoResumed", "Resuming"],
        pace=Pace.TRANSITION,
    ),
    row(
        "auto-resume-not-due-yet",
        spec=job(paused=True, auto_resume="30m"),
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(left=timedelta(minutes=31))},
        phase="Paused",
        conditions={"RetentionAtRisk": "True/DeadlineNear"},
        events=["DeadlineNear"],
    ),
    row(
        "auto-resume-too-late-when-lost",
        spec=job(paused=True, auto_resume="30m"),
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={"retention": bound(lost=True)},
        phase="Paused",
        conditions={"RetentionExceeded": "True"},
        events=["ChangeLogPurged"],
    ),
    row(
        "auto-resumed-and-running",
        spec=job(paused=True, auto_resume="30m"),
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before(
            "Resuming",
            auto_resumed=jobstatus.AutoResumeStatus(
                at=NOW_TEXT, generation=GEN, reason="resumed 30m before the deadline"
            ),
        ),
        phase="Running",
        conditions={
            "Ready": "False/AutoResumed",
            "Paused": "False/AutoResumed",
            "Reconciling": "False",
            "Stalled": "False",
        },
        events=["Running"],
    ),
    row(
        "auto-resume-acknowledged-by-paused-false",
        spec=job(auto_resume="30m"),
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before(
            "Running",
            auto_resumed=jobstatus.AutoResumeStatus(at=NOW_TEXT, generation=GEN, reason="r"),
        ),
        phase="Running",
        conditions={"Ready": "True/Running", "Paused": "False/NotPaused"},
    ),
    row(
        "spec-changed-after-auto-resume-pauses-again",
        spec=job(paused=True, auto_resume="30m"),
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before(
            "Running",
            auto_resumed=jobstatus.AutoResumeStatus(at=NOW_TEXT, generation=GEN, reason="r"),
        ),
        context={"generation": GEN + 1},
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "retention-probe-failed-configured-retention-stands-in",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={
            "retention": bound(left=timedelta(days=3)),
            "retention_errors": (error("SourceUnreachable", transient=True, backend="source"),),
        },
        phase="Paused",
        conditions={"Ready": "True/Paused", "RetentionAtRisk": "Unknown/SourceUnreachable"},
    ),
    row(
        "retention-probe-failed-but-deadline-near",
        spec=PAUSED_JOB,
        observed=PAUSED_STEADY,
        previous=PAUSED_BEFORE,
        context={
            "retention": bound(left=timedelta(hours=1)),
            "retention_errors": (error("SourceUnreachable", transient=True, backend="source"),),
        },
        phase="Paused",
        conditions={"RetentionAtRisk": "True/DeadlineNear"},
        events=["DeadlineNear"],
    ),
]


@pytest.mark.parametrize("r", RETENTION_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", RETENTION_ROWS)
def test_status_is_whole(r: Row) -> None:
    check_whole(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)
