"""Tables for the reconcile decision: spec + observation + previous status -> a plan.

``decide`` is pure, so every row below is one reconcile pass: what the
adapters saw, what the last written status said, and what the decision must
return (actions, phase, conditions, events, pace).  The builders keep rows to
the facts that matter; everything else is a steady CDC job at generation 3.

Connector names: ``src`` is a Debezium source (its offsets say CDC unless a
row says otherwise), ``sink`` the MongoDB sink.  ``dbz`` is a Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import reconcile, retention, status
from syncjob_operator.decide.observed import (
    BackendError,
    ConnectorState,
    Observed,
    TaskState,
    WorkloadState,
)
from syncjob_operator.decide.plan import (
    Action,
    ClearSavedReplicasAction,
    ConnectorAction,
    Context,
    KafkaConnectorAction,
    Pace,
    Plan,
    ScaleAction,
)

GEN = 3
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EARLIER = "2026-11-24T10:00:00Z"  # when previous conditions flipped, and the pause began
NOW_TEXT = "2026-11-24T12:00:00Z"

CDC: tuple[Mapping[str, Any], ...] = ({"lsn": 100, "txId": 7, "ts_usec": 1},)
SNAPSHOT: tuple[Mapping[str, Any], ...] = (
    {"lsn": 50, "snapshot": "INITIAL", "snapshot_completed": False},
)
NO_OFFSETS: tuple[Mapping[str, Any], ...] = ()

DBZ = jobspec.WorkloadRef(api_version="apps/v1", kind="Deployment", name="dbz")


# --- builders ---------------------------------------------------------------------------


def job(
    *,
    paused: bool = False,
    mode: str = "Pause",
    connect: Sequence[str] = ("src", "sink"),
    workloads: Sequence[str] = (),
    strimzi: Sequence[str] = (),
    auto_resume: str | None = None,
) -> jobspec.SyncJobSpec:
    raw: dict[str, Any] = {"paused": paused, "pauseMode": mode}
    if connect:
        raw["connect"] = {"url": "http://connect:8083", "connectors": list(connect)}
    raw["workloads"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": n} for n in workloads
    ]
    raw["kafkaConnectors"] = [{"name": n} for n in strimzi]
    if auto_resume:
        raw["retentionPolicy"] = {"warnBefore": "6h", "autoResumeBefore": auto_resume}
    return v1alpha1.parse_spec(raw)


def tasks(*states: str) -> tuple[TaskState, ...]:
    return tuple(TaskState(id=i, state=s, worker_id=f"w{i}:8083") for i, s in enumerate(states))


def _conn(
    name: str, type_: str, state: str, task_states: Sequence[str] | None, **kw: Any
) -> ConnectorState:
    if task_states is None:  # one task in the connector's state; a STOPPED one has none
        task_states = () if state in ("STOPPED", "NotFound", "Unknown") else (state,)
    return ConnectorState(
        name=name, state=state, type=type_, worker_id="w0:8083", tasks=tasks(*task_states), **kw
    )


def src(
    state: str,
    task_states: Sequence[str] | None = None,
    *,
    offsets: tuple[Mapping[str, Any], ...] | None = CDC,
    trace: str | None = None,
) -> ConnectorState:
    if state in ("NotFound", "Unknown"):
        offsets = None
    return _conn("src", "source", state, task_states, offsets=offsets, trace=trace)


def sink(state: str, task_states: Sequence[str] | None = None) -> ConnectorState:
    return _conn("sink", "sink", state, task_states)


def kc(
    name: str, requested: str | None, state: str, task_states: Sequence[str] | None = None
) -> ConnectorState:
    """A Strimzi KafkaConnector: spec.state ``requested``, status.connectorStatus ``state``."""
    return _conn(name, "source", state, task_states, requested=requested)


def wl(
    replicas: int | None,
    *,
    ready: int | None = None,
    current: int | None = None,
    saved: int | None = None,
    found: bool = True,
    ref: jobspec.WorkloadRef = DBZ,
) -> WorkloadState:
    """A workload; pods and ready pods follow ``replicas`` unless a row says otherwise."""
    return WorkloadState(
        ref=ref,
        found=found,
        replicas=replicas,
        current_replicas=current if current is not None else (replicas or 0),
        ready_replicas=ready if ready is not None else (replicas or 0),
        saved_replicas=saved,
    )


def seen(
    *connectors: ConnectorState,
    workloads: Sequence[WorkloadState] = (),
    strimzi: Sequence[ConnectorState] = (),
    errors: Sequence[BackendError] = (),
    skipped: bool = False,
) -> Observed:
    return Observed(
        connectors=tuple(connectors),
        kafka_connectors=tuple(strimzi),
        workloads=tuple(workloads),
        errors=tuple(errors),
        connect_skipped=skipped,
    )


def cond(type_: str, status: str, reason: str = "R") -> jobstatus.Condition:
    return jobstatus.Condition(
        type=type_,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        last_transition_time=EARLIER,
        observed_generation=GEN,
    )


def before(
    phase: str | None,
    *,
    stage: str | None = "CDC",
    paused_at: str | None = None,
    conditions: Sequence[jobstatus.Condition] = (),
    saved: Mapping[str, int] | None = None,
    auto_resumed: jobstatus.AutoResumeStatus | None = None,
    connectors: Sequence[jobstatus.ConnectorStatus] = (),
) -> jobstatus.SyncJobStatus:
    """The previous status; pausedAt defaults to EARLIER for a paused or pausing job."""
    if paused_at is None and phase in ("Pausing", "Paused"):
        paused_at = EARLIER
    return jobstatus.SyncJobStatus(
        observed_generation=GEN,
        stage=stage,  # type: ignore[arg-type]
        phase=phase,  # type: ignore[arg-type]
        paused_at=paused_at,
        auto_resumed=auto_resumed,
        connectors=list(connectors),
        workloads=[
            jobstatus.WorkloadStatus(
                api_version="apps/v1", kind="Deployment", name=n, replicas=0, saved_replicas=s
            )
            for n, s in (saved or {}).items()
        ],
        conditions=list(conditions),
    )


def bound(
    *,
    left: timedelta | None = timedelta(days=3),
    lost: bool = False,
    reason: str = "SafeWalSize",
) -> retention.RetentionBound:
    return retention.RetentionBound(
        basis=retention.PG_SAFE_WAL_SIZE,
        deadline=NOW + left if left is not None else None,
        lost=lost,
        reason=reason,
        message="the slot keeps 1.0 GiB more WAL",
        figures={"retainedBytes": 1024, "safeBytes": 1 << 30, "walBytesPerSecond": 4096.0},
    )


def ctx(previous: jobstatus.SyncJobStatus, **kw: Any) -> Context:
    return Context(
        generation=kw.pop("generation", GEN), now=kw.pop("now", NOW), previous=previous, **kw
    )


def error(reason: str, *, transient: bool, backend: str = "connect") -> BackendError:
    return BackendError(backend, reason, f"{reason} happened", transient)  # type: ignore[arg-type]


def pause(name: str, target: str = "PAUSED") -> ConnectorAction:
    return ConnectorAction(name, target)


def resume(name: str) -> ConnectorAction:
    return ConnectorAction(name, "RUNNING")


# --- the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    spec: jobspec.SyncJobSpec
    observed: Observed
    previous: jobstatus.SyncJobStatus
    actions: tuple[Action, ...]
    phase: str | None
    # type -> "Status" or "Status/Reason"; only the ones a row cares about.
    conditions: Mapping[str, str] = field(default_factory=dict)
    events: tuple[str, ...] = ()  # reasons, in order
    pace: Pace | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


def row(id_: str, **kw: Any) -> Any:
    kw["actions"] = tuple(kw.get("actions", ()))
    kw["events"] = tuple(kw.get("events", ()))
    return pytest.param(Row(**kw), id=id_)


PAUSED_JOB = job(paused=True)
STOP_JOB = job(paused=True, mode="Stop")
RUNNING_JOB = job()

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

WL_JOB_PAUSED = job(paused=True, workloads=["dbz"])
WL_JOB_RUNNING = job(workloads=["dbz"])
WL_ONLY_PAUSED = job(paused=True, connect=(), workloads=["dbz"])
WL_ONLY_RUNNING = job(connect=(), workloads=["dbz"])

WORKLOAD_ROWS = [
    # --- pause: connectors first, then the workloads ---
    row(
        "workloads-wait-for-connectors-to-quiesce",
        spec=WL_JOB_PAUSED,
        observed=seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(2)]),
        previous=before("Running"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "workloads-scaled-once-connectors-are-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2)]),
        previous=before("Pausing"),
        actions=[ScaleAction(DBZ, 0, save=2)],
        phase="Pausing",
        conditions={"Ready": "False"},
        pace=Pace.TRANSITION,
    ),
    row(
        "pods-still-terminating",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, current=1, saved=2)]),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Pausing",
        conditions={"Ready": "False"},
    ),
    row(
        "workloads-at-zero-missing-ready-replicas-is-zero",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True"},
        events=["Paused"],
    ),
    row(
        "connect-workers-at-zero-are-as-paused-as-can-be",
        spec=WL_JOB_PAUSED,
        observed=seen(workloads=[wl(0, saved=2)], skipped=True),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Paused",
        conditions={"Ready": "True/Paused"},
        events=["Paused"],
    ),
    row(
        "connect-workers-ready-but-not-serving-yet-is-still-resuming",
        spec=WL_JOB_RUNNING,
        observed=seen(workloads=[wl(2, saved=2)], skipped=True),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
        conditions={"Ready": "False/Resuming", "Stalled": "False", "Paused": "False/Resuming"},
        pace=Pace.TRANSITION,
    ),
    row(
        "connect-workers-back-and-answering-resume-connectors-and-forget-the-count",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        actions=[resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)],
        phase="Resuming",
        pace=Pace.TRANSITION,
    ),
    row(
        "saved-zero-is-saved",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
        previous=before("Pausing"),
        actions=[ScaleAction(DBZ, 0, save=0)],
        phase="Pausing",
    ),
    row(
        "saved-zero-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=0)]),
        previous=before("Pausing", saved={"dbz": 0}),
        phase="Paused",
        events=["Paused"],
    ),
    row(
        "workloads-only-pause-needs-no-stage",
        spec=WL_ONLY_PAUSED,
        observed=seen(workloads=[wl(3)]),
        previous=before("Running", stage=None),
        actions=[ScaleAction(DBZ, 0, save=3)],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "manual-scale-up-while-paused-is-undone",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Paused", saved={"dbz": 2}),
        actions=[ScaleAction(DBZ, 0, save=2)],
        phase="Pausing",
        events=["WorkloadScaledOutsideOperator", "Pausing"],
    ),
    row(
        "annotation-lost-while-paused-keeps-status-count",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
        previous=before("Paused", saved={"dbz": 3}),
        phase="Paused",
    ),
    row(
        "workload-not-found-is-stalled",
        spec=WL_ONLY_PAUSED,
        observed=seen(
            workloads=[wl(None, found=False)],
            errors=[error("WorkloadNotFound", transient=False, backend="workloads")],
        ),
        previous=before("Running", stage=None),
        phase="Running",
        conditions={"Stalled": "True/WorkloadNotFound"},
        events=["WorkloadNotFound"],
    ),
    # --- resume: workloads first, then the connectors ---
    row(
        "resume-scales-up-first",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        previous=before("Paused", saved={"dbz": 2}),
        actions=[ScaleAction(DBZ, 2, save=2)],
        phase="Resuming",
        events=["Resuming"],
        pace=Pace.TRANSITION,
    ),
    row(
        "resume-waits-for-ready-replicas",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, ready=1, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
        conditions={"Ready": "False/Resuming"},
    ),
    row(
        "resume-missing-ready-replicas-is-zero",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, ready=0, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
    ),
    row(
        "resume-connectors-once-workloads-ready",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        actions=[resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)],
        phase="Resuming",
    ),
    row(
        "resume-saved-three-restored-exactly",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0, saved=3)]),
        previous=before("Paused", stage=None, saved={"dbz": 3}),
        actions=[ScaleAction(DBZ, 3, save=3)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "resume-saved-zero-restored-exactly",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0, saved=0)]),
        previous=before("Paused", stage=None, saved={"dbz": 0}),
        actions=[ClearSavedReplicasAction(DBZ)],
        phase="Running",
        events=["Running"],
    ),
    row(
        "resume-annotation-lost-uses-status-count",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0)]),
        previous=before("Paused", stage=None, saved={"dbz": 3}),
        actions=[ScaleAction(DBZ, 3, save=3)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "resume-done-and-forgotten",
        spec=WL_JOB_RUNNING,
        observed=seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(2)]),
        previous=before("Resuming"),
        phase="Running",
        conditions={"Ready": "True/Running"},
        events=["Running"],
    ),
    row(
        "running-workload-scaled-by-user-is-theirs",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(5)]),
        previous=before("Running"),
        phase="Running",
    ),
    row(
        "status-lost-while-workers-at-zero-is-still-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(workloads=[wl(0, saved=2)], skipped=True),
        previous=jobstatus.SyncJobStatus(),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True"},
        events=["Paused"],
    ),
]

KC_PAUSED = job(paused=True, connect=(), strimzi=["kc"])
KC_STOP = job(paused=True, mode="Stop", connect=(), strimzi=["kc"])
KC_RUNNING = job(connect=(), strimzi=["kc"])
KC_AND_WL_RUNNING = job(connect=(), strimzi=["kc"], workloads=["dbz"])

STRIMZI_ROWS = [
    row(
        "strimzi-pause-sets-state-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "paused")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-state-set-not-applied-yet",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "paused", "RUNNING")]),
        previous=before("Pausing", stage=None),
        phase="Pausing",
        conditions={"Ready": "False"},
    ),
    row(
        "strimzi-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Pausing", stage=None),
        phase="Paused",
        conditions={"Ready": "True/Paused"},
        events=["Paused"],
    ),
    row(
        "strimzi-stop-sets-state-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "stopped")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "stopped", "STOPPED")]),
        previous=before("Pausing", stage=None),
        phase="Paused",
        events=["Paused"],
    ),
    row(
        "strimzi-resume-sets-state-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Paused", stage=None),
        actions=[KafkaConnectorAction("kc", "running")],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "strimzi-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Resuming", stage=None),
        phase="Running",
        events=["Running"],
    ),
    row(
        "strimzi-state-changed-by-someone-while-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Paused", stage=None),
        actions=[KafkaConnectorAction("kc", "paused")],
        phase="Pausing",
        events=["KafkaConnectorStateOverridden", "Pausing"],
    ),
    row(
        "strimzi-state-changed-by-someone-while-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "running")],
        phase="Resuming",
        events=["KafkaConnectorStateOverridden", "Resuming"],
    ),
    row(
        "strimzi-failed-is-not-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "FAILED", ["FAILED"])]),
        previous=before("Running", stage=None),
        phase="Failed",
        conditions={"Stalled": "True/ConnectorFailed"},
        events=["Failed", "ConnectorFailed"],
    ),
    row(
        "strimzi-failed-can-be-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "running", "FAILED", ["FAILED"])]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "stopped")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-resume-waits-for-workloads",
        spec=KC_AND_WL_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")], workloads=[wl(0, saved=1)]),
        previous=before("Paused", stage=None, saved={"dbz": 1}),
        actions=[ScaleAction(DBZ, 1, save=1)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "strimzi-not-found-is-stalled",
        spec=KC_PAUSED,
        observed=seen(
            strimzi=[kc("kc", None, "NotFound")],
            errors=[error("KafkaConnectorNotFound", transient=False, backend="kafkaConnectors")],
        ),
        previous=before("Running", stage=None),
        phase="Running",
        conditions={"Stalled": "True/KafkaConnectorNotFound"},
        events=["KafkaConnectorNotFound"],
    ),
]

PAUSED_STEADY = seen(src("PAUSED"), sink("PAUSED"))
PAUSED_BEFORE = before("Paused", conditions=[cond("Ready", "True", "Paused")])

RETENTION_ROWS = [
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


def check(plan: Plan, r: Row) -> None:
    assert plan.actions == r.actions
    assert plan.status.phase == r.phase
    got = {c.type: c for c in plan.status.conditions}
    for type_, want in r.conditions.items():
        status, _, reason = want.partition("/")
        assert type_ in got, f"no {type_} condition"
        assert got[type_].status == status, (type_, got[type_])
        if reason:
            assert got[type_].reason == reason, (type_, got[type_])
    assert tuple(e.reason for e in plan.events) == r.events, plan.events
    if r.pace is not None:
        assert plan.pace is r.pace


@pytest.mark.parametrize("r", CONNECT_ROWS + WORKLOAD_ROWS + STRIMZI_ROWS + RETENTION_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", CONNECT_ROWS + WORKLOAD_ROWS + STRIMZI_ROWS + RETENTION_ROWS)
def test_status_is_whole(r: Row) -> None:
    """Every pass reports the generation, the six conditions, and round-trips its status."""
    plan = reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context))
    assert plan.status.observed_generation == r.context.get("generation", GEN)
    assert [c.type for c in plan.status.conditions] == [
        "Ready",
        "Reconciling",
        "Stalled",
        "Paused",
        "RetentionAtRisk",
        "RetentionExceeded",
    ]
    assert all(
        c.observed_generation == plan.status.observed_generation for c in plan.status.conditions
    )
    # kstatus: Stalled and Reconciling are never both True; Ready=True means neither is.
    by = {c.type: c.status for c in plan.status.conditions}
    assert not (by["Stalled"] == "True" and by["Reconciling"] == "True")
    if by["Ready"] == "True":
        assert by["Stalled"] == by["Reconciling"] == "False"
    assert v1alpha1.parse_status(v1alpha1.dump(plan.status)) == plan.status


# --- pausedAt ---------------------------------------------------------------------------

AUTO = jobstatus.AutoResumeStatus(at=NOW_TEXT, generation=GEN, reason="r")


@pytest.mark.parametrize(
    ("spec", "observed", "previous", "context", "paused_at"),
    [
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running"),
            {},
            NOW_TEXT,
            id="set-when-the-pause-begins",
        ),
        pytest.param(
            PAUSED_JOB, PAUSED_STEADY, before("Paused"), {}, EARLIER, id="kept-while-paused"
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
            before("Running", stage="Snapshot"),
            {},
            None,
            id="not-set-while-deferred",
        ),
        pytest.param(
            RUNNING_JOB, PAUSED_STEADY, before("Paused"), {}, None, id="cleared-on-resume"
        ),
        pytest.param(
            job(paused=True, auto_resume="30m"),
            PAUSED_STEADY,
            PAUSED_BEFORE,
            {"retention": bound(left=timedelta(minutes=20))},
            None,
            id="cleared-on-auto-resume",
        ),
        pytest.param(
            job(paused=True, auto_resume="30m"),
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running", paused_at=EARLIER, auto_resumed=AUTO),
            {"generation": GEN + 1},
            NOW_TEXT,
            id="a-new-pause-after-auto-resume-starts-afresh",
        ),
        pytest.param(
            RUNNING_JOB,
            seen(src("FAILED"), sink("RUNNING")),
            before("Resuming", paused_at=EARLIER),
            {},
            None,
            id="cleared-when-a-resume-fails",
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("PAUSED"), sink("RUNNING")),
            before("Failed", paused_at=EARLIER),
            {},
            EARLIER,
            id="kept-when-a-failed-pause-goes-on",
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running", paused_at=EARLIER),
            {},
            NOW_TEXT,
            id="stale-value-from-an-older-status-replaced",
        ),
    ],
)
def test_paused_at(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
    paused_at: str | None,
) -> None:
    assert reconcile.decide(spec, observed, ctx(previous, **context)).status.paused_at == paused_at


def test_auto_resume_is_recorded() -> None:
    plan = reconcile.decide(
        job(paused=True, auto_resume="30m"),
        PAUSED_STEADY,
        ctx(PAUSED_BEFORE, retention=bound(left=timedelta(minutes=20))),
    )
    assert plan.status.auto_resumed is not None
    assert plan.status.auto_resumed.at == NOW_TEXT
    assert plan.status.auto_resumed.deadline == "2026-11-24T12:20:00Z"
    assert plan.status.auto_resumed.generation == GEN
    assert plan.events[0].type == "Warning"


# --- what status mirrors ----------------------------------------------------------------


def test_status_mirrors_connectors_with_short_traces() -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: boom\n\n  at a.b(C.java:1)\n" + (
        "  at x.y(Z.java:2)\n" * 50
    )
    plan = reconcile.decide(
        RUNNING_JOB,
        seen(src("FAILED", ["FAILED", "RUNNING"], trace=trace), sink("RUNNING")),
        ctx(before("Running")),
    )
    first = plan.status.connectors[0]
    assert (first.name, first.state, first.type, first.worker_id) == (
        "src",
        "FAILED",
        "source",
        "w0:8083",
    )
    assert first.trace == (
        "org.apache.kafka.connect.errors.ConnectException: boom | at a.b(C.java:1) | "
        "at x.y(Z.java:2)"
    )
    assert [(t.id, t.state, t.worker_id) for t in first.tasks] == [
        (0, "FAILED", "w0:8083"),
        (1, "RUNNING", "w1:8083"),
    ]
    assert [c.name for c in plan.status.connectors] == ["src", "sink"]
    # The condition names the failed connector.
    stalled = next(c for c in plan.status.conditions if c.type == "Stalled")
    assert "connector src is FAILED" in stalled.message


def test_trace_is_bounded() -> None:
    plan = reconcile.decide(
        RUNNING_JOB, seen(src("FAILED", trace="x" * 5000), sink("RUNNING")), ctx(before("Running"))
    )
    assert len(plan.status.connectors[0].trace or "") == status.TRACE_CHARS


def test_status_keeps_last_connectors_while_workers_are_at_zero() -> None:
    last = jobstatus.ConnectorStatus(
        name="src", state="PAUSED", tasks=[jobstatus.TaskStatus(id=0, state="PAUSED")]
    )
    plan = reconcile.decide(
        WL_JOB_PAUSED,
        seen(workloads=[wl(0, saved=2)], skipped=True),
        ctx(before("Paused", saved={"dbz": 2}, connectors=[last])),
    )
    assert [(c.name, c.state, c.tasks) for c in plan.status.connectors] == [("src", "PAUSED", [])]


@pytest.mark.parametrize(
    ("spec", "observed", "previous", "saved", "ready"),
    [
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(4)]),
            before("Pausing"),
            4,
            4,
            id="recorded-as-it-is-saved",
        ),
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=4)]),
            before("Paused"),
            4,
            0,
            id="from-the-annotation",
        ),
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
            before("Paused", saved={"dbz": 4}),
            4,
            0,
            id="annotation-lost-status-kept",
        ),
        pytest.param(
            WL_JOB_RUNNING,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(4, saved=4)]),
            before("Resuming", saved={"dbz": 4}),
            None,
            4,
            id="cleared-once-restored",
        ),
        pytest.param(
            WL_JOB_RUNNING,
            seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(4)]),
            before("Running"),
            None,
            4,
            id="none-while-running",
        ),
    ],
)
def test_status_workloads_saved_replicas(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    saved: int | None,
    ready: int,
) -> None:
    (status,) = reconcile.decide(spec, observed, ctx(previous)).status.workloads
    assert (status.kind, status.name, status.api_version) == ("Deployment", "dbz", "apps/v1")
    assert status.saved_replicas == saved
    assert status.ready_replicas == ready


def test_status_workload_not_found() -> None:
    plan = reconcile.decide(
        WL_ONLY_PAUSED,
        seen(
            workloads=[wl(None, found=False)],
            errors=[error("WorkloadNotFound", transient=False, backend="workloads")],
        ),
        ctx(before("Running", stage=None)),
    )
    assert plan.status.workloads[0].message == "not found"
    assert plan.actions == ()


@pytest.mark.parametrize(
    ("previous", "context", "deadline", "basis"),
    [
        pytest.param(
            PAUSED_BEFORE,
            {"retention": bound(left=timedelta(days=3))},
            "2026-11-27T12:00:00Z",
            retention.PG_SAFE_WAL_SIZE,
            id="paused",
        ),
        pytest.param(
            PAUSED_BEFORE,
            {"retention": bound(left=None)},
            None,
            retention.PG_SAFE_WAL_SIZE,
            id="no-deadline",
        ),
        pytest.param(PAUSED_BEFORE, {}, None, None, id="not-probed"),
    ],
)
def test_retention_status(
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
    deadline: str | None,
    basis: str | None,
) -> None:
    status = reconcile.decide(PAUSED_JOB, PAUSED_STEADY, ctx(previous, **context)).status
    assert status.retention_deadline == deadline
    assert (status.retention.basis if status.retention else None) == basis
    if status.retention is not None:
        assert status.retention.retained_bytes == 1024
        assert status.retention.safe_bytes == 1 << 30
        assert status.retention.wal_bytes_per_second == 4096.0


def test_no_retention_while_running() -> None:
    status = reconcile.decide(
        RUNNING_JOB,
        seen(src("RUNNING"), sink("RUNNING")),
        ctx(before("Running"), retention=bound()),
    ).status
    assert status.retention is None and status.retention_deadline is None


# --- conditions keep their transition times -------------------------------------------


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


# --- a second identical pass changes nothing --------------------------------------------

STEADY = [
    pytest.param(
        RUNNING_JOB, seen(src("RUNNING"), sink("RUNNING")), before("Running"), {}, id="running"
    ),
    pytest.param(PAUSED_JOB, PAUSED_STEADY, before("Pausing"), {}, id="paused"),
    pytest.param(
        STOP_JOB, seen(src("STOPPED"), sink("STOPPED")), before("Pausing"), {}, id="stopped"
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        before("Running", stage="Snapshot"),
        {},
        id="pause-pending",
    ),
    pytest.param(
        PAUSED_JOB, seen(src("FAILED"), sink("PAUSED")), before("Pausing"), {}, id="failed"
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("NotFound"), sink("PAUSED"), errors=[error("ConnectorNotFound", transient=False)]),
        before("Pausing"),
        {},
        id="not-found",
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]),
        before("Paused"),
        {},
        id="connect-unreachable",
    ),
    pytest.param(
        WL_JOB_PAUSED,
        seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        before("Pausing", saved={"dbz": 2}),
        {},
        id="workloads-paused",
    ),
    pytest.param(
        WL_JOB_PAUSED,
        seen(workloads=[wl(0, saved=2)], skipped=True),
        before("Pausing", saved={"dbz": 2}),
        {},
        id="workers-at-zero",
    ),
    pytest.param(
        KC_PAUSED,
        seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        before("Pausing", stage=None),
        {},
        id="strimzi-paused",
    ),
    pytest.param(
        PAUSED_JOB,
        PAUSED_STEADY,
        before("Paused"),
        {"retention": bound(left=timedelta(hours=2))},
        id="retention-at-risk",
    ),
    pytest.param(
        PAUSED_JOB,
        PAUSED_STEADY,
        before("Paused"),
        {"retention": bound(lost=True)},
        id="retention-lost",
    ),
    pytest.param(
        job(paused=True, auto_resume="30m"),
        seen(src("RUNNING"), sink("RUNNING")),
        before("Resuming", auto_resumed=AUTO),
        {},
        id="auto-resumed",
    ),
]


@pytest.mark.parametrize(("spec", "observed", "previous", "context"), STEADY)
def test_second_identical_pass_writes_nothing_and_says_nothing(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
) -> None:
    first = reconcile.decide(spec, observed, ctx(previous, **context))
    later = NOW + timedelta(minutes=5)
    second = reconcile.decide(spec, observed, ctx(first.status, now=later, **context))
    assert second.status == first.status
    assert second.events == ()
    assert second.actions == first.actions


# --- whole round trips, one pass after another -----------------------------------------


def drive(
    spec: jobspec.SyncJobSpec, passes: Sequence[tuple[Observed, str, tuple[Any, ...]]]
) -> jobstatus.SyncJobStatus:
    """Feed each pass the status the last one wrote; check phase and actions at each."""
    status = before("Running")
    for i, (observed, phase, actions) in enumerate(passes):
        plan = reconcile.decide(spec, observed, ctx(status, now=NOW + timedelta(seconds=i)))
        assert (plan.status.phase, plan.actions) == (phase, actions), f"pass {i}"
        status = plan.status
    return status


def test_round_trip_with_connect_and_workloads() -> None:
    paused = drive(
        WL_JOB_PAUSED,
        [
            (
                seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(3)]),
                "Pausing",
                (pause("src"), pause("sink")),
            ),
            (
                seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3)]),
                "Pausing",
                (ScaleAction(DBZ, 0, save=3),),
            ),
            (
                seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, current=2, saved=3)]),
                "Pausing",
                (),
            ),
            (seen(workloads=[wl(0, saved=3)], skipped=True), "Paused", ()),
        ],
    )
    assert paused.workloads[0].saved_replicas == 3
    resume_passes = [
        (
            seen(
                src("Unknown"),
                sink("Unknown"),
                workloads=[wl(0)],
                errors=[error("ConnectUnreachable", transient=True)],
            ),
            "Paused",
            (ScaleAction(DBZ, 3, save=3),),
        ),
        (seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3, ready=2, saved=3)]), "Resuming", ()),
        (
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3, saved=3)]),
            "Resuming",
            (resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)),
        ),
        (seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(3)]), "Running", ()),
    ]
    status = paused
    for i, (observed, phase, actions) in enumerate(resume_passes):
        plan = reconcile.decide(
            WL_JOB_RUNNING, observed, ctx(status, now=NOW + timedelta(hours=1, seconds=i))
        )
        assert (plan.status.phase, plan.actions) == (phase, actions), f"resume pass {i}"
        status = plan.status
    assert status.workloads[0].saved_replicas is None
    assert status.paused_at is None
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.status == "True"


def test_timed_out_transition_stays_stalled_without_new_events() -> None:
    """The handler restarts its transition clock on any pace but TRANSITION; so must not flap."""
    observed = seen(src("RUNNING"), sink("PAUSED"))
    first = reconcile.decide(PAUSED_JOB, observed, ctx(before("Pausing"), transition_elapsed=301.0))
    second = reconcile.decide(
        PAUSED_JOB,
        observed,
        ctx(first.status, now=NOW + timedelta(seconds=30), transition_elapsed=331.0),
    )
    assert [e.reason for e in first.events] == ["TransitionTimeout"]
    assert first.pace is second.pace is Pace.TRANSITION
    assert second.status == first.status and second.events == ()
    stalled = next(c for c in second.status.conditions if c.type == "Stalled")
    assert stalled.status == "True"
    assert "connector src is RUNNING, not PAUSED" in stalled.message


def test_a_lasting_outage_says_how_long() -> None:
    plan = reconcile.decide(
        RUNNING_JOB,
        seen(src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]),
        ctx(before("Running"), errors_elapsed=420.5, stall_after=300.0),
    )
    stalled = next(c for c in plan.status.conditions if c.type == "Stalled")
    assert "(for 420s)" in stalled.message, stalled
