"""Tables for the conditions: one per condition family, then transition times across passes.

Each family function (decide.conditions) takes the facts one pass gathered
and returns the condition(s) it wants; ``merge`` then keeps the transition
times of those that did not flip.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobstatus
from syncjob_operator.decide import conditions, reconcile
from syncjob_operator.decide.conditions import Wanted
from syncjob_operator.decide.observed import BackendError
from tests.helpers.decide_builders import (
    EARLIER,
    NOW,
    NOW_TEXT,
    PAUSED_JOB,
    RUNNING_JOB,
    before,
    bound,
    cond,
    ctx,
    error,
    seen,
    sink,
    src,
)


def err(reason: str, *, transient: bool = False, message: str | None = None) -> BackendError:
    return BackendError("connect", reason, message or f"{reason} happened", transient)


def want(w: Wanted) -> str:
    """A wanted condition as "Status/Reason", the way the rows spell it."""
    return f"{w.status}/{w.reason}"


AUTO = jobstatus.AutoResumeStatus(at=NOW_TEXT, generation=3, reason="resumed 30m before")


# --- Ready, Reconciling, Stalled --------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "ready", "reconciling", "stalled"),
    [
        pytest.param(
            {"phase": "Running"},
            "True/Running",
            "False/Converged",
            "False/NotStalled",
            id="running",
        ),
        pytest.param(
            {"phase": "Running", "pending": ["connector src is PAUSED, not RUNNING"]},
            "False/Running",
            "True/Running",
            "False/NotStalled",
            id="running-but-something-pending",
        ),
        pytest.param(
            {"phase": "Paused"}, "True/Paused", "False/Converged", "False/NotStalled", id="paused"
        ),
        pytest.param(
            {"phase": "Pausing", "pending": ["a"]},
            "False/Pausing",
            "True/Pausing",
            "False/NotStalled",
            id="pausing",
        ),
        pytest.param(
            {"phase": None},
            "False/Reconciling",
            "True/Reconciling",
            "False/NotStalled",
            id="nothing-observed-yet",
        ),
        pytest.param(
            {"phase": "PausePending", "stage": "Snapshot"},
            "False/WaitingForCDCStage",
            "True/WaitingForCDCStage",
            "False/NotStalled",
            id="pause-waits-for-cdc",
        ),
        pytest.param(
            {"phase": "Running", "transient": [err("ConnectUnreachable", transient=True)]},
            "False/ConnectUnreachable",
            "True/ConnectUnreachable",
            "False/NotStalled",
            id="transient-error-is-reconciling",
        ),
        pytest.param(
            {
                "phase": "Paused",
                "blocking": [err("ConnectorNotFound"), err("SecretNotFound")],
                "transient": [err("ConnectUnreachable", transient=True)],
            },
            "False/ConnectorNotFound",
            "False/Stalled",
            "True/ConnectorNotFound",
            id="blocking-error-is-stalled-and-wins",
        ),
        pytest.param(
            {"phase": "Running", "auto_resumed": AUTO},
            "False/AutoResumed",
            "False/Converged",
            "False/NotStalled",
            id="auto-resumed-running-is-neither",
        ),
        pytest.param(
            {"phase": "Resuming", "auto_resumed": AUTO, "pending": ["a"]},
            "False/Resuming",
            "True/Resuming",
            "False/NotStalled",
            id="auto-resume-under-way",
        ),
        pytest.param(
            {"phase": "Paused", "exceeded": True, "loss": "slot lost"},
            "False/RetentionExceeded",
            "False/Stalled",
            "True/RetentionExceeded",
            id="change-log-lost",
        ),
        pytest.param(
            {"phase": "Paused", "exceeded": True, "blocking": [err("SourceUnreachable")]},
            "False/RetentionExceeded",
            "False/Stalled",
            "True/SourceUnreachable",
            id="loss-beats-errors-in-ready-not-in-stalled",
        ),
    ],
)
def test_readiness(facts: Mapping[str, Any], ready: str, reconciling: str, stalled: str) -> None:
    got = conditions.readiness(**{"stage": "CDC", **facts})
    assert [w.type for w in got] == ["Ready", "Reconciling", "Stalled"]
    assert [want(w) for w in got] == [ready, reconciling, stalled]
    r, rc, st = got
    # kstatus: never both abnormal-true; Ready=True means neither is.
    assert not (rc.status == st.status == "True")
    if r.status == "True":
        assert rc.status == st.status == "False"
    # Stalled says why when True, and nothing when False.
    assert (st.message != "") == (st.status == "True")


def test_readiness_messages() -> None:
    ready, _, stalled = conditions.readiness(
        phase="Paused", stage="CDC", blocking=[err("A", message="x"), err("B", message="x")]
    )
    assert ready.message == stalled.message == "x"  # the same message once
    lost, _, _ = conditions.readiness(phase="Paused", stage="CDC", exceeded=True, loss="slot lost")
    assert (
        lost.message
        == "Events were lost: slot lost. A new snapshot is needed to repair the target."
    )
    earlier, _, _ = conditions.readiness(phase="Snapshot" and "Paused", stage="CDC", exceeded=True)
    assert "the source purged change log" in earlier.message
    waiting, _, _ = conditions.readiness(phase="PausePending", stage="Snapshot")
    assert "(the job is in the Snapshot stage)" in waiting.message
    pending, _, _ = conditions.readiness(phase="Pausing", stage="CDC", pending=list("abcdefg"))
    assert pending.message == "a; b; c; d; e"


# --- Paused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "paused", "message"),
    [
        pytest.param(
            {"phase": "Paused", "paused_at": EARLIER},
            "True/Paused",
            f"the job is paused since {EARLIER}",
            id="paused",
        ),
        pytest.param({"phase": "Paused"}, "True/Paused", "the job is paused", id="paused-no-time"),
        pytest.param(
            {"phase": "PausePending", "stage": "Pending"},
            "False/WaitingForCDCStage",
            "the pause waits for the CDC stage (the job is in the Pending stage); it is carried "
            "out as soon as the initial snapshot completes",
            id="waiting-for-cdc",
        ),
        pytest.param(
            {"phase": "Running", "auto_resumed": AUTO},
            "False/AutoResumed",
            "resumed 30m before",
            id="auto-resumed",
        ),
        pytest.param(
            {"phase": "Pausing", "pending": ["a", "b"]}, "False/Pausing", "a; b", id="pausing"
        ),
        pytest.param({"phase": "Resuming", "pending": ["a"]}, "False/Resuming", "a", id="resuming"),
        pytest.param(
            {"phase": None, "ready_message": "Connect is unreachable"},
            "Unknown/NotObserved",
            "the job's state has not been observed yet: Connect is unreachable",
            id="not-observed",
        ),
        pytest.param({"phase": "Running"}, "False/NotPaused", "", id="running"),
        pytest.param({"phase": "Failed"}, "False/NotPaused", "", id="failed"),
        pytest.param(
            {"phase": "PausePending", "stage": "Pending", "stage_detail": "no offset of pg yet"},
            "False/WaitingForCDCStage",
            "the pause waits for the CDC stage (the job is in the Pending stage: no offset of pg "
            "yet); it is carried out as soon as the initial snapshot completes",
            id="waiting-names-what-holds-it",
        ),
        pytest.param(
            {"phase": "Running", "stage": "Unknown", "stage_unknown": "set spec.kafka"},
            "False/StageUnknown",
            "set spec.kafka",
            id="stage-unknown-before-a-pause",
        ),
        pytest.param(
            {"phase": "Paused", "paused_at": EARLIER, "stage_unknown": "set spec.kafka"},
            "True/StageUnknown",
            f"the job is paused since {EARLIER}; set spec.kafka",
            id="stage-unknown-once-paused",
        ),
        pytest.param(
            {"phase": "Pausing", "pending": ["a"], "stage_unknown": "set spec.kafka"},
            "False/Pausing",
            "a",
            id="stage-unknown-while-pausing-is-about-the-pause",
        ),
        pytest.param(
            {"phase": "Running", "stage_unread": ("KafkaUnreachable", "cannot reach Kafka")},
            "False/KafkaUnreachable",
            "cannot reach Kafka",
            id="stage-unread-while-running",
        ),
        pytest.param(
            {"phase": "Paused", "stage_unread": ("KafkaUnreachable", "cannot reach Kafka")},
            "True/Paused",
            "the job is paused",
            id="stage-unread-once-paused-does-not-matter",
        ),
    ],
)
def test_paused(facts: Mapping[str, Any], paused: str, message: str) -> None:
    got = conditions.paused(**{"stage": "CDC", **facts})
    assert (got.type, want(got), got.message) == ("Paused", paused, message)


# --- RetentionAtRisk ----------------------------------------------------------------------

IN_3_DAYS = NOW + timedelta(days=3)
IN_1_HOUR = NOW + timedelta(hours=1)
SHOWN = jobstatus.RetentionStatus(basis="postgresql:safe_wal_size", message="1 GiB left")


@pytest.mark.parametrize(
    ("facts", "at_risk", "message"),
    [
        pytest.param({"in_pause": False}, "False/NotPaused", "", id="not-paused"),
        pytest.param(
            {"in_pause": False, "bound": bound(left=timedelta(hours=1)), "deadline": IN_1_HOUR},
            "False/NotPaused",
            "",
            id="a-running-job-has-no-deadline",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(), "deadline": IN_3_DAYS},
            "False/DeadlineFar",
            "the change log is kept until 2026-11-27T12:00:00Z",
            id="deadline-far",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(), "deadline": IN_1_HOUR, "shown": SHOWN},
            "True/DeadlineNear",
            "resume before 2026-11-24T13:00:00Z or events are lost "
            "(postgresql:safe_wal_size: 1 GiB left)",
            id="deadline-near",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(), "deadline": NOW + timedelta(hours=6)},
            "True/DeadlineNear",
            "resume before 2026-11-24T18:00:00Z or events are lost ()",
            id="exactly-warn-before-away",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(left=None, reason="WalIdle")},
            "False/WalIdle",
            "the slot keeps 1.0 GiB more WAL",
            id="no-deadline-says-why",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(left=None, reason="")},
            "False/NoDeadline",
            "the slot keeps 1.0 GiB more WAL",
            id="no-deadline-without-a-reason",
        ),
        pytest.param(
            {"in_pause": True, "bound": bound(lost=True), "deadline": IN_3_DAYS, "lost": True},
            "False/RetentionExceeded",
            "",
            id="lost",
        ),
        pytest.param(
            {"in_pause": True, "errors": [err("SourceUnreachable", message="db down")]},
            "Unknown/SourceUnreachable",
            "db down",
            id="probe-failed",
        ),
        pytest.param(
            {
                "in_pause": True,
                "bound": bound(),
                "deadline": IN_3_DAYS,
                "errors": [err("SourceUnreachable", message="db down")],
            },
            "Unknown/SourceUnreachable",
            "db down; falling back to postgresql:safe_wal_size: deadline 2026-11-27T12:00:00Z",
            id="probe-failed-configured-stands-in",
        ),
        pytest.param(
            {
                "in_pause": True,
                "bound": bound(),
                "deadline": IN_1_HOUR,
                "errors": [err("SourceUnreachable")],
            },
            "True/DeadlineNear",
            "resume before 2026-11-24T13:00:00Z or events are lost ()",
            id="near-beats-a-failed-probe",
        ),
        pytest.param(
            {
                "in_pause": True,
                "bound": bound(left=timedelta(0), reason="SlotUnreserved", checked=True),
                "deadline": NOW,
            },
            "True/SlotUnreserved",
            "resume now: the slot keeps 1.0 GiB more WAL",
            id="checked-deadline-passed-is-a-risk-named-by-the-source",
        ),
        pytest.param(
            {"in_pause": True},
            "Unknown/NoRetentionSource",
            "no deadline is known: set spec.source (and spec.kafka) so the operator can read "
            "the retention, or spec.source.retention",
            id="nothing-to-read",
        ),
    ],
)
def test_retention_at_risk(facts: Mapping[str, Any], at_risk: str, message: str) -> None:
    got = conditions.retention_at_risk(now=NOW, warn_before=timedelta(hours=6), **facts)
    assert (got.type, want(got), got.message) == ("RetentionAtRisk", at_risk, message)


# --- RetentionExceeded --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exceeded", "message", "expected"),
    [
        (False, "ignored", ("False/WithinRetention", "")),
        (True, "Events were lost: x.", ("True/ChangeLogPurged", "Events were lost: x.")),
    ],
)
def test_retention_exceeded(exceeded: bool, message: str, expected: tuple[str, str]) -> None:
    got = conditions.retention_exceeded(exceeded=exceeded, message=message)
    assert (got.type, want(got), got.message) == ("RetentionExceeded", *expected)


# --- merge, find, is_true -------------------------------------------------------------------


def test_merge_orders_and_keeps_times_that_did_not_flip() -> None:
    previous = [cond("Paused", "True", "Paused"), cond("Ready", "True", "Paused")]
    merged = conditions.merge(
        previous,
        [Wanted("Paused", "True", "Paused", "m"), Wanted("Ready", "False", "Resuming", "r")],
        now=NOW_TEXT,
        generation=4,
    )
    assert [(c.type, c.last_transition_time, c.observed_generation) for c in merged] == [
        ("Ready", NOW_TEXT, 4),
        ("Paused", EARLIER, 4),
    ]
    assert conditions.find(merged, "Paused") == merged[1]
    assert conditions.find(merged, "Stalled") is None
    assert not conditions.is_true(merged, "Ready") and conditions.is_true(merged, "Paused")


# --- transition times across passes ----------------------------------------------------


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
