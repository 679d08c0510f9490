"""The reconcile decision: from the spec and what was observed, what to do and what to report.

Purely computational, with no side effects and no I/O: the handlers observe,
call :func:`decide`, carry out the returned actions and write the returned
status (only when it differs from what is there).  Every branch is a row in
``tests/unit/test_reconcile.py``.

The order of the ways to pause matters when a job uses several: pausing
quiesces the connectors first (REST and Strimzi) and only then scales the
workloads to zero; resuming scales the workloads back up, waits for them to be
ready, and only then resumes the connectors.  So the Connect workers are never
taken away under a connector that is still running, and never asked to resume
a connector before they are there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Phase, Stage
from syncjob_operator.decide import conditions, retention, stage
from syncjob_operator.decide.conditions import Wanted
from syncjob_operator.decide.observed import (
    NOT_FOUND,
    PAUSED,
    RESTARTING,
    RUNNING,
    STOPPED,
    UNKNOWN,
    BackendError,
    ConnectorState,
    Observed,
    WorkloadState,
)

TRACE_CHARS = 400


# --- what a decision returns ------------------------------------------------


@dataclass(frozen=True)
class ConnectorAction:
    """Ask Kafka Connect to move a connector to ``target`` (PUT pause/stop/resume)."""

    name: str
    target: str  # PAUSED | STOPPED | RUNNING


@dataclass(frozen=True)
class KafkaConnectorAction:
    """Set a Strimzi KafkaConnector's ``spec.state``."""

    name: str
    state: str  # paused | stopped | running


@dataclass(frozen=True)
class ScaleAction:
    """Scale a workload; when ``save`` is set, record it on the workload first."""

    ref: jobspec.WorkloadRef
    replicas: int
    save: int | None = None


@dataclass(frozen=True)
class ClearSavedReplicasAction:
    """The workload is back at its saved count: forget the count."""

    ref: jobspec.WorkloadRef


Action = ConnectorAction | KafkaConnectorAction | ScaleAction | ClearSavedReplicasAction


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


class Pace(StrEnum):
    """How soon to look again; the handler turns it into a bounded delay."""

    TRANSITION = "Transition"  # something was asked and is on its way: poll fast, back off
    WAITING = "Waiting"  # waiting for the CDC stage: poll the offsets at a modest rate
    STEADY = "Steady"  # converged: resync at the resync interval
    RETRY = "Retry"  # an error: back off


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    status: jobstatus.SyncJobStatus
    events: tuple[Event, ...]
    pace: Pace


@dataclass(frozen=True)
class Context:
    """What a decision needs besides the spec and the observation."""

    generation: int
    now: datetime
    previous: jobstatus.SyncJobStatus
    # Seconds since the current pause/resume began, and the bound on it.
    transition_elapsed: float = 0.0
    transition_timeout: float = 300.0
    # Seconds the backends have been failing without a break (transient
    # errors: unreachable, 5xx, timeouts), and how long that may last before
    # it is no longer "retrying" but Stalled: an outage is worth an alert.
    errors_elapsed: float = 0.0
    stall_after: float = 300.0
    # The retention bound that binds (already combined), when probed.
    retention: retention.RetentionBound | None = None
    retention_errors: tuple[BackendError, ...] = ()


# --- per-backend convergence ------------------------------------------------


def _connect_target(paused: bool, mode: jobspec.PauseMode) -> str:
    if not paused:
        return RUNNING
    return STOPPED if mode == "Stop" else PAUSED


def _strimzi_state(target: str) -> str:
    return target.lower()


def connector_at(c: ConnectorState, target: str) -> bool:
    """The connector and every task are at ``target``.

    A stopped connector has no tasks in its status.  A running or paused one
    with no tasks listed yet (just resumed from STOPPED, or tasks still being
    assigned) has not arrived.
    """
    if c.state != target:
        return False
    if target == STOPPED:
        # Stop releases the tasks: Connect writes the connector's STOPPED
        # first and drops its tasks from the status a moment later.
        return not any(t.state in (RUNNING, PAUSED, RESTARTING) for t in c.tasks)
    return bool(c.tasks) and all(t.state == target for t in c.tasks)


def _paused_family(state: str) -> bool:
    return state in (PAUSED, STOPPED)


def _short(trace: str | None) -> str | None:
    if not trace:
        return None
    lines = [ln for ln in trace.strip().splitlines() if ln.strip()][:3]
    text = " | ".join(ln.strip() for ln in lines)
    return text[:TRACE_CHARS]


def _connector_status(c: ConnectorState) -> jobstatus.ConnectorStatus:
    return jobstatus.ConnectorStatus(
        name=c.name,
        state=c.state,
        type=c.type,
        worker_id=c.worker_id,
        trace=_short(c.trace),
        tasks=[
            jobstatus.TaskStatus(
                id=t.id, state=t.state, worker_id=t.worker_id, trace=_short(t.trace)
            )
            for t in c.tasks
        ],
    )


def _saved(w: WorkloadState, previous: jobstatus.SyncJobStatus) -> int | None:
    """The count to restore: the workload's annotation, else what status recorded."""
    if w.saved_replicas is not None:
        return w.saved_replicas
    for s in previous.workloads:
        if s.kind == w.ref.kind and s.name == w.ref.name:
            return s.saved_replicas
    return None


# --- the decision -----------------------------------------------------------


@dataclass
class _Draft:
    """Mutable scratch space while one decision is made."""

    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # what is not there yet, for messages
    failures: list[str] = field(default_factory=list)  # failed connectors that block the target


def _auto_resume_active(spec: jobspec.SyncJobSpec, ctx: Context) -> bool:
    ar = ctx.previous.auto_resumed
    return spec.paused and ar is not None and ar.generation == ctx.generation


def decide(spec: jobspec.SyncJobSpec, observed: Observed, ctx: Context) -> Plan:
    prev = ctx.previous
    draft = _Draft()
    auto_resumed = prev.auto_resumed if _auto_resume_active(spec, ctx) else None

    # Auto-resume: resuming by itself beats losing events (retentionPolicy.autoResumeBefore).
    bound = ctx.retention
    if (
        spec.paused
        and auto_resumed is None
        and spec.retention_policy.auto_resume_before is not None
        and bound is not None
        and not bound.lost
        and prev.phase in ("Pausing", "Paused")
        and retention.auto_resume_due(
            bound,
            now=ctx.now,
            auto_resume_before=spec.retention_policy.auto_resume_before,
        )
    ):
        auto_resumed = jobstatus.AutoResumeStatus(
            at=units.rfc3339(ctx.now),
            deadline=units.rfc3339(bound.deadline) if bound.deadline else None,
            generation=ctx.generation,
            reason=(
                f"resumed {units.format_go_duration(spec.retention_policy.auto_resume_before)} "
                "before the retention "
                f"deadline ({bound.basis}) so that no events are lost"
            ),
        )
        draft.events.append(
            Event(
                "Warning",
                "AutoResumed",
                f"Resuming the job by itself: {auto_resumed.reason}. spec.paused is still true; "
                "set it to false to acknowledge, or change the spec to pause again.",
            )
        )

    want_paused = spec.paused and auto_resumed is None
    job_stage = _stage(spec, observed, prev)
    # connect_skipped: the workers are at zero with saved counts, so this pause
    # was carried out already (a status lost since, e.g. restored from backup).
    already_pausing = prev.phase in ("Pausing", "Paused") or observed.connect_skipped
    # Pause only in the CDC stage.  Unknown-with-no-way-to-know (no Connect
    # backend to read offsets from) does not block: the user chose that setup.
    # Connect lists only sinks (the sources live elsewhere, say under Strimzi):
    # no offsets tell the stage, so, as without Connect, nothing blocks.
    only_sinks = bool(observed.connectors) and all(c.type == "sink" for c in observed.connectors)
    stage_blocks = (
        want_paused
        and not already_pausing
        and job_stage != "CDC"
        and spec.connect is not None
        and not only_sinks
    )

    target = _connect_target(want_paused, spec.pause_mode)
    converged_connectors = _decide_connectors(
        spec, observed, prev=prev, target=target, stage_blocks=stage_blocks, draft=draft
    )
    converged_strimzi = _decide_strimzi(
        spec, observed, prev=prev, target=target, stage_blocks=stage_blocks, draft=draft
    )
    quiesced = converged_connectors and converged_strimzi
    if want_paused:
        converged_workloads = _decide_workloads(
            spec, observed, prev, paused=True, allowed=quiesced and not stage_blocks, draft=draft
        )
    else:
        # The saved counts say "these workers are ours and coming back": keep
        # them until Kafka Connect answers again, so that the wait for a
        # worker that is Ready but not yet serving is not an error either.
        converged_workloads = _decide_workloads(
            spec,
            observed,
            prev,
            paused=False,
            allowed=True,
            keep_saved=observed.connect_skipped,
            draft=draft,
        )
        if not converged_workloads:
            # Connectors (REST and Strimzi) resume only once their workers are back.
            draft.actions = [
                a
                for a in draft.actions
                if not isinstance(a, ConnectorAction | KafkaConnectorAction)
            ]
    converged = quiesced and converged_workloads

    errors = list(observed.errors)
    blocking = [e for e in errors if not e.transient]
    transient = [e for e in errors if e.transient]
    if transient and ctx.errors_elapsed > ctx.stall_after:
        blocking += [
            replace(e, message=f"{e.message} (for {int(ctx.errors_elapsed)}s)") for e in transient
        ]
        transient = []

    phase = _phase(
        want_paused=want_paused,
        converged=converged and not errors,
        stage_blocks=stage_blocks,
        # Failed is what Connect reported (a FAILED connector or task).  An
        # error that hid the connectors (bad credentials, a missing name) keeps
        # the last phase seen; Stalled says why.
        failures=bool(draft.failures),
        prev=prev,
        observed=observed,
        errors=bool(transient or blocking),
    )

    # pausedAt is when the current pause began: retention deadlines count from
    # it.  A pause that starts from anything but a pause (Running, Resuming,
    # PausePending, a failed resume) is a new one, whatever an older status says.
    paused_at = prev.paused_at
    pause_began = prev.phase in ("Pausing", "Paused", "Failed")
    if want_paused and phase in ("Pausing", "Paused") and not (paused_at and pause_began):
        paused_at = units.rfc3339(ctx.now)
    if not want_paused and phase in ("Running", "Resuming", "Failed"):
        # Also after an auto-resume (status.autoResumed says when).
        paused_at = None

    if ctx.transition_elapsed > ctx.transition_timeout and phase in ("Pausing", "Resuming"):
        blocking.append(
            BackendError(
                backend="connect" if spec.connect else "workloads",
                reason="TransitionTimeout",
                message=(
                    f"{phase.lower()} has not completed within {int(ctx.transition_timeout)}s: "
                    + "; ".join(draft.pending[:5])
                ),
                transient=True,
            )
        )

    status = jobstatus.SyncJobStatus(
        observed_generation=ctx.generation,
        stage=job_stage,
        phase=phase,
        paused_at=paused_at,
        retention_deadline=None,
        retention=None,
        auto_resumed=auto_resumed,
        connectors=_connectors_status(spec, observed, prev),
        workloads=_workloads_status(observed, prev, draft),
        kafka_connectors=[_connector_status(c) for c in observed.kafka_connectors],
        conditions=[],
    )
    status, wanted = _retention_and_conditions(
        spec, status, ctx, draft, blocking=blocking, transient=transient
    )
    status = status.model_copy(
        update={
            "conditions": conditions.merge(
                prev.conditions, wanted, now=units.rfc3339(ctx.now), generation=ctx.generation
            )
        }
    )
    draft.events.extend(_transition_events(prev, status, draft))
    # A timed-out transition is still under way (and still polled): only what
    # was observed to fail backs off.  RETRY would also end the transition,
    # restart its clock and make Stalled flap.
    # A FAILED connector is looked at again with backoff: someone may restart it.
    pace = _pace(phase, errors=bool(errors or draft.failures), stage_blocks=stage_blocks)
    return Plan(tuple(draft.actions), status, tuple(draft.events), pace)


def _stage(spec: jobspec.SyncJobSpec, observed: Observed, prev: jobstatus.SyncJobStatus) -> Stage:
    if spec.connect is None:
        return "Unknown"
    seen = stage.job_stage(observed.connectors)
    if seen == "Unknown" and prev.stage is not None:
        # Connect could not be read (or its workers are scaled to zero by this
        # pause): the stage is the last one seen; conditions say why.
        return prev.stage
    return seen


def _decide_connectors(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    *,
    prev: jobstatus.SyncJobStatus,
    target: str,
    stage_blocks: bool,
    draft: _Draft,
) -> bool:
    if spec.connect is None:
        return True
    if observed.connect_skipped:
        # Paused and the workers are at zero: the pause is persisted in the
        # config topic and nothing runs.  Anything else waits for the workers.
        if target == RUNNING:
            draft.pending.append(
                "Kafka Connect is not answering yet (are its workers coming back?)"
            )
            return False
        return True
    converged = True
    for c in observed.connectors:
        if c.state in (NOT_FOUND, UNKNOWN):
            converged = False
            continue
        if connector_at(c, target):
            continue
        converged = False
        if c.failed and target == PAUSED:
            draft.failures.append(
                f"{c.failure()}: a failed connector cannot be paused; fix and restart it, "
                "or use pauseMode: Stop"
            )
            continue
        if c.failed and target == RUNNING:
            draft.failures.append(f"{c.failure()}: {_short(c.trace) or 'see its trace'}")
            continue
        if target != RUNNING and stage_blocks and not c.failed:
            continue
        if c.state == target and target != STOPPED:
            draft.pending.append(f"connector {c.name} tasks not yet {target}")
            # The connector is there; its tasks follow.  Asking again is harmless.
        else:
            draft.pending.append(f"connector {c.name} is {c.state}, not {target}")
        draft.actions.append(ConnectorAction(c.name, target))
        if prev.phase == "Paused" and target != RUNNING and c.state == RUNNING:
            draft.events.append(
                Event(
                    "Warning",
                    "ConnectorResumedOutsideOperator",
                    f"Connector {c.name} was RUNNING while spec.paused is true "
                    "(resumed by hand through the REST API?); pausing it again. "
                    "Change spec.paused to resume the job.",
                )
            )
        if prev.phase == "Running" and target == RUNNING and _paused_family(c.state):
            draft.events.append(
                Event(
                    "Warning",
                    "ConnectorPausedOutsideOperator",
                    f"Connector {c.name} was {c.state} while spec.paused is false; resuming it. "
                    "Set spec.paused to true to pause the job.",
                )
            )
    return converged


def _decide_strimzi(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    *,
    prev: jobstatus.SyncJobStatus,
    target: str,
    stage_blocks: bool,
    draft: _Draft,
) -> bool:
    converged = True
    wanted_state = _strimzi_state(target)
    for c in observed.kafka_connectors:
        if c.state == NOT_FOUND:
            converged = False
            continue
        if c.requested != wanted_state:
            if target != RUNNING and stage_blocks:
                converged = False
                continue
            if c.failed and target == PAUSED:
                draft.failures.append(
                    f"KafkaConnector {c.name}: {c.failure()}; Strimzi cannot pause a failed "
                    "connector: fix it, or use pauseMode: Stop"
                )
                converged = False
                continue
            draft.actions.append(KafkaConnectorAction(c.name, wanted_state))
            # Overridden only if someone changed it after the job settled where
            # spec.paused now says: not when spec.paused itself just changed.
            settled_here = prev.phase == ("Running" if target == RUNNING else "Paused")
            if settled_here and c.requested is not None:
                draft.events.append(
                    Event(
                        "Warning",
                        "KafkaConnectorStateOverridden",
                        f"KafkaConnector {c.name} had spec.state {c.requested}; setting it back to "
                        f"{wanted_state} as spec.paused says.",
                    )
                )
            draft.pending.append(f"KafkaConnector {c.name} state {c.requested}, not {wanted_state}")
            converged = False
            continue
        if not connector_at(c, target):
            converged = False
            if c.failed and target == RUNNING:
                draft.failures.append(f"KafkaConnector {c.name}: {c.failure()}")
            else:
                draft.pending.append(f"KafkaConnector {c.name} is {c.state}, not {target}")
    return converged


def _decide_workloads(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    prev: jobstatus.SyncJobStatus,
    *,
    paused: bool,
    allowed: bool,
    draft: _Draft,
    keep_saved: bool = False,
) -> bool:
    converged = True
    for w in observed.workloads:
        if not w.found or w.replicas is None:
            converged = False
            continue
        saved = _saved(w, prev)
        if paused:
            if not allowed:
                converged = False
                continue
            if saved is None:
                draft.actions.append(ScaleAction(w.ref, 0, save=w.replicas))
                draft.pending.append(f"{w.ref.kind} {w.ref.name} scaling from {w.replicas} to 0")
                converged = False
            elif w.replicas != 0:
                draft.actions.append(ScaleAction(w.ref, 0, save=saved))
                draft.pending.append(f"{w.ref.kind} {w.ref.name} has {w.replicas} replicas, not 0")
                converged = False
                if prev.phase == "Paused":
                    draft.events.append(
                        Event(
                            "Warning",
                            "WorkloadScaledOutsideOperator",
                            f"{w.ref.kind} {w.ref.name} was scaled to {w.replicas} while the job "
                            "is paused; scaling it back to 0. Change spec.paused to resume.",
                        )
                    )
            elif w.current_replicas > 0 or w.ready_replicas > 0:
                draft.pending.append(
                    f"{w.ref.kind} {w.ref.name} still has {w.current_replicas} pods"
                )
                converged = False
        else:
            if saved is None:
                continue  # not ours to manage while running: users may scale it
            if w.replicas != saved:
                draft.actions.append(ScaleAction(w.ref, saved, save=saved))
                draft.pending.append(f"{w.ref.kind} {w.ref.name} scaling to {saved}")
                converged = False
            elif w.ready_replicas < saved:
                draft.pending.append(
                    f"{w.ref.kind} {w.ref.name} has {w.ready_replicas}/{saved} ready replicas"
                )
                converged = False
            elif not keep_saved:
                draft.actions.append(ClearSavedReplicasAction(w.ref))
    return converged


def _phase(
    *,
    want_paused: bool,
    converged: bool,
    stage_blocks: bool,
    failures: bool,
    prev: jobstatus.SyncJobStatus,
    observed: Observed,
    errors: bool,
) -> Phase | None:
    if failures:
        return "Failed"
    if converged:
        return "Paused" if want_paused else "Running"
    if errors:
        # Nothing new was seen: keep the last phase, or none at all on a first
        # pass (never a state nobody observed); the conditions say why.
        return prev.phase
    if want_paused:
        return "PausePending" if stage_blocks else "Pausing"
    anything_paused = any(
        _paused_family(c.state) for c in (*observed.connectors, *observed.kafka_connectors)
    ) or any(w.saved_replicas is not None for w in observed.workloads)
    if anything_paused or prev.phase in ("Paused", "Pausing", "Resuming"):
        return "Resuming"
    return "Running"


def _connectors_status(
    spec: jobspec.SyncJobSpec, observed: Observed, prev: jobstatus.SyncJobStatus
) -> list[jobstatus.ConnectorStatus]:
    if spec.connect is None:
        return []
    if observed.connect_skipped:
        return [c.model_copy(update={"tasks": []}) for c in prev.connectors]
    return [_connector_status(c) for c in observed.connectors]


def _workloads_status(
    observed: Observed, prev: jobstatus.SyncJobStatus, draft: _Draft
) -> list[jobstatus.WorkloadStatus]:
    cleared = {
        (a.ref.kind, a.ref.name) for a in draft.actions if isinstance(a, ClearSavedReplicasAction)
    }
    saving = {
        (a.ref.kind, a.ref.name): a.save
        for a in draft.actions
        if isinstance(a, ScaleAction) and a.save is not None
    }
    out = []
    for w in observed.workloads:
        key = (w.ref.kind, w.ref.name)
        saved = None if key in cleared else saving.get(key, _saved(w, prev))
        out.append(
            jobstatus.WorkloadStatus(
                api_version=w.ref.api_version,
                kind=w.ref.kind,
                name=w.ref.name,
                replicas=w.replicas,
                ready_replicas=w.ready_replicas,
                saved_replicas=saved,
                message=None if w.found else "not found",
            )
        )
    return out


# --- retention and conditions -----------------------------------------------


def _retention_and_conditions(
    spec: jobspec.SyncJobSpec,
    status: jobstatus.SyncJobStatus,
    ctx: Context,
    draft: _Draft,
    *,
    blocking: Sequence[BackendError],
    transient: Sequence[BackendError],
) -> tuple[jobstatus.SyncJobStatus, list[Wanted]]:
    prev = ctx.previous
    phase = status.phase
    wanted: list[Wanted] = []
    in_pause = phase in ("Pausing", "Paused") or (phase == "Failed" and spec.paused)

    # Retention: only a paused job has a deadline.
    bound = ctx.retention if in_pause else None
    deadline = bound.deadline if bound else None
    lost = bool(bound and (bound.lost or (deadline is not None and ctx.now >= deadline)))
    exceeded_before = conditions.is_true(prev.conditions, conditions.RETENTION_EXCEEDED)
    # A loss stays reported until a new snapshot repairs it.
    lost_sticky = lost or (exceeded_before and status.stage != "Snapshot")
    previous_deadline = units.parse_time(prev.retention_deadline)
    if (
        bound is not None
        and prev.retention is not None
        and prev.retention.basis == bound.basis
        and prev.retention.lost == lost
        and previous_deadline is not None
        and deadline is not None
        and not retention.deadline_moved(previous_deadline, deadline, now=ctx.now)
    ):
        # A WAL-rate deadline wobbles with every probe: keep what was written
        # until it moves meaningfully, so status is not rewritten for noise.
        deadline = previous_deadline
        status = status.model_copy(
            update={"retention_deadline": prev.retention_deadline, "retention": prev.retention}
        )
    elif bound is not None:
        figures = bound.figures
        status = status.model_copy(
            update={
                "retention_deadline": units.rfc3339(deadline) if deadline else None,
                "retention": jobstatus.RetentionStatus(
                    basis=bound.basis,
                    message=bound.message,
                    retained_bytes=_int(figures.get("retainedBytes")),
                    safe_bytes=_int(figures.get("safeBytes")),
                    wal_bytes_per_second=_float(figures.get("walBytesPerSecond")),
                    expire_seconds=_int(figures.get("expireSeconds")),
                    lost=lost,
                ),
            }
        )

    warn_before = spec.retention_policy.warn_before
    at_risk = bool(
        in_pause and deadline is not None and not lost and ctx.now >= deadline - warn_before
    )

    all_blocking = [*blocking]
    if draft.failures:
        all_blocking.insert(
            0,
            BackendError(
                backend="connect",
                reason="ConnectorFailed",
                message="; ".join(draft.failures),
                transient=False,
            ),
        )

    # Ready / Reconciling / Stalled
    if lost_sticky:
        msg = (
            bound.message
            if bound and lost
            else "the source purged change log this job needed while it was paused"
        )
        ready = Wanted(
            conditions.READY,
            "False",
            "RetentionExceeded",
            f"Events were lost: {msg}. A new snapshot is needed to repair the target.",
        )
    elif all_blocking:
        ready = Wanted(conditions.READY, "False", all_blocking[0].reason, _messages(all_blocking))
    elif transient:
        ready = Wanted(conditions.READY, "False", transient[0].reason, _messages(transient))
    elif status.auto_resumed is not None and phase == "Running":
        ready = Wanted(
            conditions.READY,
            "False",
            "AutoResumed",
            f"{status.auto_resumed.reason}; spec.paused is still true: set it to false to "
            "acknowledge, or change the spec to pause again",
        )
    elif phase == "Paused":
        ready = Wanted(conditions.READY, "True", "Paused", "the job is paused as spec.paused asks")
    elif phase == "Running" and not draft.pending:
        ready = Wanted(conditions.READY, "True", "Running", "the job is running")
    elif phase == "PausePending":
        ready = Wanted(conditions.READY, "False", "WaitingForCDCStage", _waiting(status.stage))
    else:
        ready = Wanted(
            conditions.READY, "False", phase or "Reconciling", "; ".join(draft.pending[:5])
        )
    wanted.append(ready)

    # Lost change log is not repaired by waiting: kstatus should read Stalled.
    stalled = bool(all_blocking) or lost_sticky
    converging = (
        not stalled
        and ready.status != "True"
        and not lost_sticky
        and not (status.auto_resumed is not None and phase == "Running")
    )
    wanted.append(
        Wanted(
            conditions.RECONCILING,
            "True" if converging else "False",
            ready.reason if converging else "Converged" if not stalled else "Stalled",
            ready.message if converging else "",
        )
    )
    wanted.append(
        Wanted(
            conditions.STALLED,
            "True" if stalled else "False",
            (all_blocking[0].reason if all_blocking else "RetentionExceeded")
            if stalled
            else "NotStalled",
            (_messages(all_blocking) if all_blocking else ready.message) if stalled else "",
        )
    )

    # Paused
    if phase == "Paused":
        wanted.append(Wanted(conditions.PAUSED, "True", "Paused", _paused_message(status)))
    elif phase == "PausePending":
        wanted.append(
            Wanted(conditions.PAUSED, "False", "WaitingForCDCStage", _waiting(status.stage))
        )
    elif status.auto_resumed is not None:
        wanted.append(Wanted(conditions.PAUSED, "False", "AutoResumed", status.auto_resumed.reason))
    elif phase == "Pausing":
        wanted.append(Wanted(conditions.PAUSED, "False", "Pausing", "; ".join(draft.pending[:5])))
    elif phase == "Resuming":
        wanted.append(Wanted(conditions.PAUSED, "False", "Resuming", "; ".join(draft.pending[:5])))
    elif phase is None:
        wanted.append(
            Wanted(
                conditions.PAUSED,
                "Unknown",
                "NotObserved",
                "the job's state has not been observed yet: " + ready.message,
            )
        )
    else:
        wanted.append(Wanted(conditions.PAUSED, "False", "NotPaused", ""))

    # Retention
    if in_pause and ctx.retention_errors and not at_risk and not lost:
        # A probe failed: say which and why; a configured retention may stand in.
        risk_reason, risk_msg = ctx.retention_errors[0].reason, _messages(ctx.retention_errors)
        if bound is not None and deadline is not None:
            risk_msg += f"; falling back to {bound.basis}: deadline {units.rfc3339(deadline)}"
        wanted.append(Wanted(conditions.RETENTION_AT_RISK, "Unknown", risk_reason, risk_msg))
    elif at_risk and deadline is not None:
        wanted.append(
            Wanted(
                conditions.RETENTION_AT_RISK,
                "True",
                "DeadlineNear",
                f"resume before {units.rfc3339(deadline)} or events are lost "
                f"({_retention_text(status.retention)})",
            )
        )
    elif in_pause and bound is not None and deadline is None:
        wanted.append(
            Wanted(
                conditions.RETENTION_AT_RISK, "False", bound.reason or "NoDeadline", bound.message
            )
        )
    elif in_pause and bound is not None and not lost:
        wanted.append(
            Wanted(
                conditions.RETENTION_AT_RISK,
                "False",
                "DeadlineFar",
                f"the change log is kept until {units.rfc3339(deadline)}" if deadline else "",
            )
        )
    elif not in_pause:
        wanted.append(Wanted(conditions.RETENTION_AT_RISK, "False", "NotPaused", ""))
    elif lost:
        wanted.append(Wanted(conditions.RETENTION_AT_RISK, "False", "RetentionExceeded", ""))
    else:
        wanted.append(
            Wanted(
                conditions.RETENTION_AT_RISK,
                "Unknown",
                "NoRetentionSource",
                "no deadline is known: set spec.source (and spec.kafka) so the operator can read "
                "the retention, or spec.source.retention",
            )
        )
    wanted.append(
        Wanted(
            conditions.RETENTION_EXCEEDED,
            "True" if lost_sticky else "False",
            "ChangeLogPurged" if lost_sticky else "WithinRetention",
            ready.message if lost_sticky else "",
        )
    )
    return status, wanted


def _retention_text(shown: jobstatus.RetentionStatus | None) -> str:
    return f"{shown.basis}: {shown.message}" if shown is not None else ""


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _messages(errors: Iterable[BackendError]) -> str:
    return "; ".join(dict.fromkeys(e.message for e in errors))


def _waiting(stage_now: Stage | None) -> str:
    return (
        f"the pause waits for the CDC stage (the job is in the {stage_now} stage); "
        "it is carried out as soon as the initial snapshot completes"
    )


def _paused_message(status: jobstatus.SyncJobStatus) -> str:
    since = f" since {status.paused_at}" if status.paused_at else ""
    return f"the job is paused{since}"


# --- events for transitions -------------------------------------------------

_PHASE_EVENTS: dict[str, tuple[Literal["Normal", "Warning"], str]] = {
    "PausePending": ("Normal", "PauseDeferred"),
    "Pausing": ("Normal", "Pausing"),
    "Paused": ("Normal", "Paused"),
    "Resuming": ("Normal", "Resuming"),
    "Running": ("Normal", "Running"),
    "Failed": ("Warning", "Failed"),
}


def _transition_events(
    prev: jobstatus.SyncJobStatus, new: jobstatus.SyncJobStatus, draft: _Draft
) -> list[Event]:
    events: list[Event] = []
    if new.stage != prev.stage and prev.stage is not None and new.stage not in (None, "Unknown"):
        events.append(Event("Normal", f"Stage{new.stage}", f"The job is in the {new.stage} stage"))
    if new.phase != prev.phase and new.phase is not None:
        kind, reason = _PHASE_EVENTS[new.phase]
        ready = conditions.find(new.conditions, conditions.READY)
        detail = ready.message if ready is not None and ready.message else ""
        events.append(Event(kind, reason, f"Phase {prev.phase or 'none'} -> {new.phase}. {detail}"))
    for type_, kind in (
        (conditions.STALLED, "Warning"),
        (conditions.RETENTION_AT_RISK, "Warning"),
        (conditions.RETENTION_EXCEEDED, "Warning"),
    ):
        before = conditions.find(prev.conditions, type_)
        after = conditions.find(new.conditions, type_)
        if (
            after is not None
            and after.status == "True"
            and (before is None or before.status != "True")
            # A loss is announced once, by RetentionExceeded, not again by Stalled.
            and not (type_ == conditions.STALLED and after.reason == "RetentionExceeded")
        ):
            events.append(
                Event("Warning" if kind == "Warning" else "Normal", after.reason, after.message)
            )
    return events


def _pace(phase: Phase | None, *, errors: bool, stage_blocks: bool) -> Pace:
    if errors:
        return Pace.RETRY
    if stage_blocks:
        return Pace.WAITING
    if phase in ("Pausing", "Resuming"):
        return Pace.TRANSITION
    return Pace.STEADY
