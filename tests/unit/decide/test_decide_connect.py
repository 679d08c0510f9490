"""The decision, one pass per row: pausing and resuming through Kafka Connect.

``decide`` is pure, so every row is one reconcile pass: what the adapters saw,
what the last written status said, and what the decision must return
(actions, phase, conditions, events, pace).
"""

from __future__ import annotations

import pytest

from syncjob_operator.decide import reconcile
from syncjob_operator.decide.plan import (
    Pace,
)
from tests.helpers.decide_builders import (
    NO_OFFSETS,
    PAUSED_JOB,
    RUNNING_JOB,
    SNAPSHOT,
    STOP_JOB,
    Row,
    before,
    check,
    check_whole,
    cond,
    ctx,
    error,
    pause,
    resume,
    row,
    seen,
    sink,
    src,
)

CONNECT_ROWS = [
    # --- pausing through Kafka Connect ---
    row(
        "pause-in-cdc-asks-each-connector",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before("Running"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        conditions={
            "Ready": "False/Pausing",
            "Reconciling": "True/Pausing",
            "Stalled": "False",
            "Paused": "False/Pausing",
        },
        events=["Pausing"],
        pace=Pace.TRANSITION,
    ),
    row(
        "pause-connector-there-task-lagging",
        spec=PAUSED_JOB,
        observed=seen(src("PAUSED", ["PAUSED", "RUNNING"]), sink("PAUSED")),
        previous=before("Pausing"),
        actions=[pause("src")],
        phase="Pausing",
        conditions={"Ready": "False", "Paused": "False"},
        pace=Pace.TRANSITION,
    ),
    row(
        "paused-connector-with-no-tasks-listed-yet",
        spec=PAUSED_JOB,
        observed=seen(src("PAUSED", []), sink("PAUSED")),
        previous=before("Pausing"),
        actions=[pause("src")],
        phase="Pausing",
    ),
    row(
        "all-connectors-and-tasks-paused",
        spec=PAUSED_JOB,
        observed=seen(src("PAUSED", ["PAUSED", "PAUSED"]), sink("PAUSED")),
        previous=before("Pausing"),
        phase="Paused",
        conditions={
            "Ready": "True/Paused",
            "Reconciling": "False",
            "Stalled": "False",
            "Paused": "True/Paused",
        },
        events=["Paused"],
        pace=Pace.STEADY,
    ),
    row(
        "pause-during-snapshot-is-deferred",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        conditions={
            "Ready": "False/WaitingForCDCStage",
            "Reconciling": "True/WaitingForCDCStage",
            "Stalled": "False",
            "Paused": "False/WaitingForCDCStage",
            "RetentionAtRisk": "False/NotPaused",
        },
        events=["PauseDeferred"],
        pace=Pace.WAITING,
    ),
    row(
        "pause-before-first-offset-is-deferred",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", offsets=NO_OFFSETS), sink("RUNNING")),
        previous=before("Running", stage="Pending"),
        phase="PausePending",
        conditions={"Ready": "False/WaitingForCDCStage", "Paused": "False/WaitingForCDCStage"},
        events=["PauseDeferred"],
        pace=Pace.WAITING,
    ),
    row(
        "pause-pending-still-in-snapshot",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        previous=before("PausePending", stage="Snapshot"),
        phase="PausePending",
        conditions={"Paused": "False/WaitingForCDCStage"},
        pace=Pace.WAITING,
    ),
    row(
        "pause-pending-carried-out-at-cdc",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before("PausePending", stage="Snapshot"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["StageCDC", "Pausing"],
        pace=Pace.TRANSITION,
    ),
    row(
        "pause-already-under-way-is-not-deferred-by-a-new-snapshot",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("PAUSED")),
        previous=before("Pausing"),
        actions=[pause("src")],
        phase="Pausing",
        events=["StageSnapshot"],
    ),
    row(
        "stop-mode-asks-stop",
        spec=STOP_JOB,
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before("Running"),
        actions=[pause("src", "STOPPED"), pause("sink", "STOPPED")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "stop-mode-paused-connector-is-stopped",
        spec=STOP_JOB,
        observed=seen(src("PAUSED"), sink("STOPPED")),
        previous=before("Pausing"),
        actions=[pause("src", "STOPPED")],
        phase="Pausing",
    ),
    row(
        "stop-mode-stopped-without-tasks-has-arrived",
        spec=STOP_JOB,
        observed=seen(src("STOPPED", []), sink("STOPPED", [])),
        previous=before("Pausing"),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True"},
        events=["Paused"],
    ),
    # --- resuming ---
    row(
        "resume-asks-running",
        spec=RUNNING_JOB,
        observed=seen(src("PAUSED"), sink("PAUSED")),
        previous=before("Paused"),
        actions=[resume("src"), resume("sink")],
        phase="Resuming",
        conditions={"Ready": "False/Resuming", "Reconciling": "True", "Paused": "False/Resuming"},
        events=["Resuming"],
        pace=Pace.TRANSITION,
    ),
    row(
        "resume-from-stop",
        spec=RUNNING_JOB,
        observed=seen(src("STOPPED"), sink("STOPPED")),
        previous=before("Paused"),
        actions=[resume("src"), resume("sink")],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "resumed-from-stop-tasks-not-listed-yet",
        spec=RUNNING_JOB,
        observed=seen(src("RUNNING", []), sink("RUNNING")),
        previous=before("Resuming"),
        actions=[resume("src")],
        phase="Resuming",
        conditions={"Ready": "False"},
    ),
    row(
        "resume-arrived",
        spec=RUNNING_JOB,
        observed=seen(src("RUNNING"), sink("RUNNING")),
        previous=before("Resuming"),
        phase="Running",
        conditions={
            "Ready": "True/Running",
            "Reconciling": "False",
            "Stalled": "False",
            "Paused": "False/NotPaused",
            "RetentionAtRisk": "False/NotPaused",
            "RetentionExceeded": "False",
        },
        events=["Running"],
        pace=Pace.STEADY,
    ),
    row(
        "resume-while-pause-pending-just-runs",
        spec=RUNNING_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        previous=before("PausePending", stage="Snapshot"),
        phase="Running",
        conditions={"Ready": "True", "Paused": "False/NotPaused"},
        events=["Running"],
    ),
    # --- the spec is the truth ---
    row(
        "connector-resumed-by-hand-while-paused",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING"), sink("PAUSED")),
        previous=before("Paused"),
        actions=[pause("src")],
        phase="Pausing",
        conditions={"Ready": "False"},
        events=["ConnectorResumedOutsideOperator", "Pausing"],
        pace=Pace.TRANSITION,
    ),
    row(
        "connector-paused-by-hand-while-running",
        spec=RUNNING_JOB,
        observed=seen(src("PAUSED"), sink("RUNNING")),
        previous=before("Running"),
        actions=[resume("src")],
        phase="Resuming",
        events=["ConnectorPausedOutsideOperator", "Resuming"],
    ),
    # --- failures ---
    row(
        "failed-connector-is-not-paused",
        spec=PAUSED_JOB,
        observed=seen(
            src("FAILED", ["FAILED"], trace="org.apache.kafka.connect.errors.X: boom"),
            sink("RUNNING"),
        ),
        previous=before("Running"),
        actions=[pause("sink")],
        phase="Failed",
        conditions={
            "Ready": "False/ConnectorFailed",
            "Reconciling": "False",
            "Stalled": "True/ConnectorFailed",
            "Paused": "False",
        },
        events=["Failed", "ConnectorFailed"],
    ),
    row(
        "failed-task-is-not-paused",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", ["RUNNING", "FAILED"]), sink("PAUSED")),
        previous=before("Pausing"),
        phase="Failed",
        conditions={"Stalled": "True/ConnectorFailed"},
        events=["Failed", "ConnectorFailed"],
    ),
    row(
        "failed-connector-can-be-stopped",
        spec=STOP_JOB,
        observed=seen(src("FAILED", ["FAILED"]), sink("RUNNING")),
        previous=before("Running"),
        actions=[pause("src", "STOPPED"), pause("sink", "STOPPED")],
        phase="Pausing",
        conditions={"Stalled": "False"},
        events=["Pausing"],
    ),
    row(
        "failed-connector-while-running",
        spec=RUNNING_JOB,
        observed=seen(src("FAILED", ["FAILED"]), sink("RUNNING")),
        previous=before("Running"),
        phase="Failed",
        conditions={"Ready": "False/ConnectorFailed", "Stalled": "True"},
        events=["Failed", "ConnectorFailed"],
    ),
    row(
        "unknown-connector-is-stalled",
        spec=PAUSED_JOB,
        observed=seen(
            src("NotFound"), sink("RUNNING"), errors=[error("ConnectorNotFound", transient=False)]
        ),
        previous=before("Running"),
        actions=[pause("sink")],
        phase="Running",  # the last phase seen; Stalled says what is missing
        conditions={
            "Ready": "False/ConnectorNotFound",
            "Reconciling": "False",
            "Stalled": "True/ConnectorNotFound",
        },
        events=["ConnectorNotFound"],
        pace=Pace.RETRY,
    ),
    row(
        "bad-credentials-are-stalled",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnauthorized", transient=False)]
        ),
        previous=before("Running"),
        phase="Running",
        conditions={"Stalled": "True/ConnectUnauthorized"},
        events=["ConnectUnauthorized"],
        pace=Pace.RETRY,
    ),
    # --- transient errors: keep what was last seen, say why, retry ---
    row(
        "connect-unreachable-while-paused-keeps-phase",
        spec=PAUSED_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before("Paused", conditions=[cond("Ready", "True", "Paused")]),
        phase="Paused",
        conditions={
            "Ready": "False/ConnectUnreachable",
            "Reconciling": "True/ConnectUnreachable",
            "Stalled": "False",
            "Paused": "True",
        },
        pace=Pace.RETRY,
    ),
    row(
        "connect-unreachable-while-running-keeps-phase",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before("Running"),
        phase="Running",
        conditions={"Ready": "False/ConnectUnreachable", "Reconciling": "True"},
        pace=Pace.RETRY,
    ),
    # --- an outage that lasts: retrying becomes Stalled, once, with an Event ---
    row(
        "connect-unreachable-within-the-bound-is-still-retrying",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before("Running"),
        phase="Running",
        conditions={"Ready": "False/ConnectUnreachable", "Stalled": "False"},
        pace=Pace.RETRY,
        context={"errors_elapsed": 299.0, "stall_after": 300.0},
    ),
    row(
        "connect-unreachable-past-the-bound-is-stalled",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before("Running"),
        phase="Running",
        conditions={
            "Ready": "False/ConnectUnreachable",
            "Reconciling": "False",
            "Stalled": "True/ConnectUnreachable",
        },
        events=["ConnectUnreachable"],
        pace=Pace.RETRY,
        context={"errors_elapsed": 301.0, "stall_after": 300.0},
    ),
    row(
        "paused-job-whose-connect-stays-down-is-stalled-but-still-paused",
        spec=PAUSED_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectTimeout", transient=True)]
        ),
        previous=before(
            "Paused", conditions=[cond("Ready", "False", "ConnectTimeout"), cond("Paused", "True")]
        ),
        phase="Paused",
        conditions={"Stalled": "True/ConnectTimeout", "Paused": "True"},
        events=["ConnectTimeout"],
        pace=Pace.RETRY,
        context={"errors_elapsed": 900.0, "stall_after": 300.0},
    ),
    # --- a first pass that sees nothing: no phase at all, never a guessed one ---
    row(
        "first-pass-connect-unreachable-reports-no-phase",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before(None, stage=None),
        phase=None,
        conditions={
            "Ready": "False/ConnectUnreachable",
            "Reconciling": "True/ConnectUnreachable",
            "Stalled": "False",
            "Paused": "Unknown/NotObserved",
        },
        pace=Pace.RETRY,
    ),
    row(
        "first-pass-paused-job-connect-unreachable-reports-no-phase",
        spec=PAUSED_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]
        ),
        previous=before(None, stage=None),
        phase=None,
        conditions={"Ready": "False/ConnectUnreachable", "Paused": "Unknown/NotObserved"},
        pace=Pace.RETRY,
    ),
    row(
        "first-pass-bad-credentials-reports-no-phase",
        spec=RUNNING_JOB,
        observed=seen(
            src("Unknown"), sink("Unknown"), errors=[error("ConnectUnauthorized", transient=False)]
        ),
        previous=before(None, stage=None),
        phase=None,
        conditions={"Ready": "False/ConnectUnauthorized", "Stalled": "True/ConnectUnauthorized"},
        events=["ConnectUnauthorized"],
        pace=Pace.RETRY,
    ),
    row(
        "rebalance-while-pausing-keeps-phase",
        spec=PAUSED_JOB,
        observed=seen(
            src("RUNNING"), sink("PAUSED"), errors=[error("ConnectRebalancing", transient=True)]
        ),
        previous=before("Pausing"),
        actions=[pause("src")],
        phase="Pausing",
        conditions={"Ready": "False/ConnectRebalancing", "Stalled": "False"},
        pace=Pace.RETRY,
    ),
    # --- a transition that does not end ---
    row(
        "transition-timeout-is-stalled",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING"), sink("PAUSED")),
        previous=before("Pausing"),
        context={"transition_elapsed": 301.0, "transition_timeout": 300.0},
        actions=[pause("src")],
        phase="Pausing",
        conditions={
            "Ready": "False/TransitionTimeout",
            "Stalled": "True/TransitionTimeout",
            "Reconciling": "False",
        },
        events=["TransitionTimeout"],
        pace=Pace.TRANSITION,
    ),
    row(
        "transition-within-bound",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING"), sink("PAUSED")),
        previous=before("Pausing"),
        context={"transition_elapsed": 299.0, "transition_timeout": 300.0},
        actions=[pause("src")],
        phase="Pausing",
        conditions={"Stalled": "False"},
        pace=Pace.TRANSITION,
    ),
    row(
        "no-timeout-once-arrived",
        spec=PAUSED_JOB,
        observed=seen(src("PAUSED"), sink("PAUSED")),
        previous=before("Pausing"),
        context={"transition_elapsed": 900.0, "transition_timeout": 300.0},
        phase="Paused",
        conditions={"Stalled": "False", "Ready": "True"},
        events=["Paused"],
    ),
    row(
        "no-timeout-while-waiting-for-cdc",
        spec=PAUSED_JOB,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        previous=before("PausePending", stage="Snapshot"),
        context={"transition_elapsed": 9000.0, "transition_timeout": 300.0},
        phase="PausePending",
        conditions={"Stalled": "False"},
        pace=Pace.WAITING,
    ),
    row(
        "failed-connector-stopped-even-during-snapshot",
        spec=STOP_JOB,
        observed=seen(src("FAILED", ["FAILED"], offsets=SNAPSHOT), sink("RUNNING")),
        previous=before("Running", stage="Snapshot"),
        actions=[pause("src", "STOPPED")],
        phase="PausePending",
        events=["PauseDeferred"],
        pace=Pace.WAITING,
    ),
]


@pytest.mark.parametrize("r", CONNECT_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", CONNECT_ROWS)
def test_status_is_whole(r: Row) -> None:
    check_whole(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)
