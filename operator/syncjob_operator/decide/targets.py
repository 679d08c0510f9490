"""What each way to pause must reach, and what to ask so that it does.

Why this exists: the three ways to pause (Kafka Connect's REST API, Strimzi
KafkaConnectors, scaled workloads) each have their own idea of "arrived" and
their own ways to go wrong (a FAILED connector cannot be paused; a task lags
behind its connector; a workload is scaled by hand).  Each function here
looks at one of them, appends to a :class:`Draft` what to ask, what is still
pending and what failed, and says whether that one has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import status
from syncjob_operator.decide.observed import (
    NOT_FOUND,
    PAUSED,
    RESTARTING,
    RUNNING,
    STOPPED,
    UNKNOWN,
    ConnectorState,
    ConnectState,
    Observed,
)
from syncjob_operator.decide.plan import (
    Action,
    ClearSavedReplicasAction,
    ConnectorAction,
    ConnectTarget,
    Event,
    KafkaConnectorAction,
    ScaleAction,
    StrimziState,
)


@dataclass(frozen=True)
class Aim:
    """What the connectors are to reach this pass, and what holds that back."""

    target: ConnectTarget
    # Pausing waits for the CDC stage: nothing is asked to pause until then.
    stage_blocks: bool
    # The last status written: what the job had settled at, for the Events.
    prev: jobstatus.SyncJobStatus


@dataclass
class Draft:
    """Mutable scratch space while one decision is made."""

    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # what is not there yet, for messages
    failures: list[str] = field(default_factory=list)  # failed connectors that block the target


def connect_target(paused: bool, mode: jobspec.PauseMode) -> ConnectTarget:
    """What the connectors must reach: RUNNING, or PAUSED or STOPPED as pauseMode says."""
    if not paused:
        return RUNNING
    return STOPPED if mode == "Stop" else PAUSED


_STRIMZI_STATES: dict[ConnectTarget, StrimziState] = {
    RUNNING: "running",
    PAUSED: "paused",
    STOPPED: "stopped",
}


def connector_at(c: ConnectorState, target: ConnectTarget) -> bool:
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


def paused_family(state: ConnectState) -> bool:
    """PAUSED or STOPPED: a connector that is not running because someone asked."""
    return state in (PAUSED, STOPPED)


def connectors(spec: jobspec.SyncJobSpec, observed: Observed, aim: Aim, draft: Draft) -> bool:
    """Kafka Connect's connectors: ask each that is not at the target; True when all are."""
    prev, target, stage_blocks = aim.prev, aim.target, aim.stage_blocks
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
            draft.failures.append(
                f"{c.failure()}: {status.short_trace(c.trace) or 'see its trace'}"
            )
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
        if prev.phase == "Running" and target == RUNNING and paused_family(c.state):
            draft.events.append(
                Event(
                    "Warning",
                    "ConnectorPausedOutsideOperator",
                    f"Connector {c.name} was {c.state} while spec.paused is false; resuming it. "
                    "Set spec.paused to true to pause the job.",
                )
            )
    return converged


def strimzi(observed: Observed, aim: Aim, draft: Draft) -> bool:
    """Strimzi's KafkaConnectors: set each spec.state; True when all report the target."""
    prev, target, stage_blocks = aim.prev, aim.target, aim.stage_blocks
    converged = True
    wanted_state = _STRIMZI_STATES[target]
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


def workloads(
    observed: Observed,
    prev: jobstatus.SyncJobStatus,
    *,
    paused: bool,
    allowed: bool,
    draft: Draft,
    keep_saved: bool = False,
) -> bool:
    """The scaled workloads: to zero (when ``allowed``) or back to their saved counts.

    True when all are there.  ``keep_saved`` keeps the saved counts of
    workloads that are back, for as long as their Connect workers do not answer.
    """
    converged = True
    for w in observed.workloads:
        if not w.found or w.replicas is None:
            converged = False
            continue
        saved = status.saved_replicas(w, prev)
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
