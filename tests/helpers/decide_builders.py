"""Builders for the decision's tables: rows keep to the facts that matter.

Everything a row does not say is a steady CDC job at generation 3.  Connector
names: ``src`` is a Debezium source (its offsets say CDC unless a row says
otherwise), ``sink`` the MongoDB sink.  ``dbz`` is a Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import (
    BackendError,
    ConnectorState,
    Observed,
    TaskState,
    WorkloadState,
)
from syncjob_operator.decide.plan import (
    Action,
    ConnectorAction,
    Context,
    Pace,
    Plan,
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
    kafka: Mapping[str, Any] | None = None,
) -> jobspec.SyncJobSpec:
    raw: dict[str, Any] = {"paused": paused, "pauseMode": mode}
    if connect:
        raw["connect"] = {"url": "http://connect:8083", "connectors": list(connect)}
    if kafka is not None:  # spec.kafka on top of its bootstrap servers
        raw["kafka"] = {"bootstrapServers": "kafka:9092", **kafka}
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
    topic: Mapping[str, tuple[Mapping[str, Any], ...]] | None = None,
    old_connect: bool = False,
    stage_errors: Sequence[BackendError] = (),
) -> Observed:
    """``topic``: the offsets topic as read; ``old_connect``: Connect serves no offsets."""
    return Observed(
        connectors=tuple(connectors),
        kafka_connectors=tuple(strimzi),
        workloads=tuple(workloads),
        errors=tuple(errors),
        connect_skipped=skipped,
        topic_offsets=topic,
        connect_without_offsets=old_connect,
        stage_errors=tuple(stage_errors),
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
    checked: bool = False,
) -> retention.RetentionBound:
    return retention.RetentionBound(
        basis=retention.PG_SAFE_WAL_SIZE,
        deadline=NOW + left if left is not None else None,
        lost=lost,
        reason=reason,
        message="the slot keeps 1.0 GiB more WAL",
        figures={"retainedBytes": 1024, "safeBytes": 1 << 30, "walBytesPerSecond": 4096.0},
        checked=checked,
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

WL_JOB_PAUSED = job(paused=True, workloads=["dbz"])
WL_JOB_RUNNING = job(workloads=["dbz"])
WL_ONLY_PAUSED = job(paused=True, connect=(), workloads=["dbz"])
WL_ONLY_RUNNING = job(connect=(), workloads=["dbz"])

KC_PAUSED = job(paused=True, connect=(), strimzi=["kc"])
KC_STOP = job(paused=True, mode="Stop", connect=(), strimzi=["kc"])
KC_RUNNING = job(connect=(), strimzi=["kc"])
KC_AND_WL_RUNNING = job(connect=(), strimzi=["kc"], workloads=["dbz"])

PAUSED_STEADY = seen(src("PAUSED"), sink("PAUSED"))
PAUSED_BEFORE = before("Paused", conditions=[cond("Ready", "True", "Paused")])

AUTO = jobstatus.AutoResumeStatus(at=NOW_TEXT, generation=GEN, reason="r")


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


def check_whole(plan: Plan, r: Row) -> None:
    """Every pass reports the generation, the six conditions, and round-trips its status."""
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
