"""The reconcile decision: from the spec and what was observed, what to do and what to report.

Purely computational, with no side effects and no I/O: the handlers observe,
call :func:`decide`, carry out the returned actions and write the returned
status (only when it differs from what is there).  :func:`decide` strings the
pieces together: :mod:`.targets` (what each backend must reach), :mod:`.phase`
(phase, pausedAt, auto-resume), :mod:`.status` (what status mirrors),
:mod:`.conditions` and :mod:`.events`.

The order of the ways to pause matters when a job uses several: pausing
quiesces the connectors first (REST and Strimzi) and only then scales the
workloads to zero; resuming scales the workloads back up, waits for them to be
ready, and only then resumes the connectors.  So the Connect workers are never
taken away under a connector that is still running, and never asked to resume
a connector before they are there.
"""

from __future__ import annotations

from dataclasses import replace

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import (
    catchup,
    conditions,
    events,
    phase,
    restart,
    stage,
    status,
    targets,
    workers,
)
from syncjob_operator.decide.observed import BackendError, Observed
from syncjob_operator.decide.plan import (
    ConnectorAction,
    Context,
    KafkaConnectorAction,
    Pace,
    Plan,
)


def decide(spec: jobspec.SyncJobSpec, observed: Observed, ctx: Context) -> Plan:
    # Connect's errors judged (the workers may be away by this job's doing); a no-op
    # for an observation judged already.
    observed = workers.settle(observed)
    prev = ctx.previous
    draft = targets.Draft()
    auto_resumed, resumed_now = phase.auto_resume(spec, ctx)
    if resumed_now is not None:
        draft.events.append(resumed_now)

    want_paused = spec.paused and auto_resumed is None
    reading = stage.reported(spec, observed, prev)
    job_stage = reading.stage
    # connect_skipped: the workers are at zero with saved counts, so this pause
    # was carried out already (a status lost since, e.g. restored from backup).
    already_pausing = prev.phase in ("Pausing", "Paused") or observed.connect_skipped
    # Pause only in the CDC stage.  A stage nothing can read (no offsets from
    # Connect's REST API nor its offsets topic, or no source connector known)
    # does not block: waiting would be for ever.  The Paused condition says so.
    stage_blocks = want_paused and not already_pausing and job_stage != "CDC" and reading.readable

    aim = targets.Aim(targets.connect_target(want_paused, spec.pause_mode), stage_blocks, prev)
    connectors_there = targets.connectors(spec, observed, aim, draft)
    strimzi_there = targets.strimzi(observed, aim, draft)
    quiesced = connectors_there and strimzi_there
    if want_paused:
        converged_workloads = targets.workloads(
            observed, prev, paused=True, allowed=quiesced and not stage_blocks, draft=draft
        )
    else:
        # The saved counts say "these workers are ours and coming back": keep
        # them until Kafka Connect answers again, so that the wait for a
        # worker that is Ready but not yet serving is not an error either.
        converged_workloads = targets.workloads(
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

    # A failed read of the offsets topic matters while the pause waits on it.
    errors = [*observed.errors, *(observed.stage_errors if stage_blocks else ())]
    blocking = [e for e in errors if not e.transient]
    transient = [e for e in errors if e.transient]
    if transient and ctx.errors_elapsed > ctx.stall_after:
        blocking += [
            replace(e, message=f"{e.message} (for {int(ctx.errors_elapsed)}s)") for e in transient
        ]
        transient = []

    new_phase = phase.current(
        want_paused=want_paused,
        converged=converged and not errors,
        stage_blocks=stage_blocks,
        failures=bool(draft.failures),
        prev=prev,
        observed=observed,
        # Errors that hid the backends keep the last phase; an unread stage hides none.
        errors=bool(observed.errors),
    )

    if ctx.transition_elapsed > ctx.transition_timeout and new_phase in ("Pausing", "Resuming"):
        blocking.append(
            BackendError(
                backend="connect" if spec.connect else "workloads",
                reason="TransitionTimeout",
                message=(
                    f"{new_phase.lower()} has not completed within "
                    f"{int(ctx.transition_timeout)}s: " + "; ".join(draft.pending[:5])
                ),
                transient=True,
            )
        )
    restarts = restart.decide(spec, observed, prev.restarts, want_paused=want_paused, now=ctx.now)
    draft.actions.extend(restarts.actions)
    draft.events.extend(restarts.events)
    if draft.failures and restarts.exhausted and restarts.status is not None:
        blocking.insert(
            0,
            BackendError(
                backend="connect",
                reason="RestartLimitReached",
                message=f"{restarts.status.count} automatic restarts did not help: "
                + "; ".join(draft.failures)
                + (
                    f"; last trace: {restarts.status.last_trace}"
                    if restarts.status.last_trace
                    else ""
                ),
                transient=False,
            ),
        )
    elif draft.failures and restarts.active:
        # spec.autoRestart is on it: retried, not yet for a person.
        transient.insert(
            0,
            BackendError(
                backend="connect",
                reason="ConnectorRestarting",
                message="; ".join(draft.failures)
                + " (restarted automatically"
                + (f"; next at {units.rfc3339(restarts.next_at)})" if restarts.next_at else ")"),
                transient=True,
            ),
        )
    elif draft.failures:
        blocking.insert(
            0,
            BackendError(
                backend="connect",
                reason="ConnectorFailed",
                message="; ".join(draft.failures),
                transient=False,
            ),
        )

    report = jobstatus.SyncJobStatus(
        observed_generation=ctx.generation,
        stage=job_stage,
        phase=new_phase,
        paused_at=phase.paused_at(prev, want_paused=want_paused, phase=new_phase, ctx=ctx),
        retention_deadline=None,
        retention=None,
        auto_resumed=auto_resumed,
        cdc=catchup.cdc_status(
            previous=prev.cdc,
            measure=ctx.backlog,
            threshold=spec.catch_up,
            prev_phase=prev.phase,
            phase=new_phase,
            now=ctx.now,
        ),
        restarts=restarts.status,
        connectors=status.connectors_status(spec, observed, prev),
        workloads=status.workloads_status(observed, prev, draft.actions),
        kafka_connectors=[status.connector_status(c) for c in observed.kafka_connectors],
        conditions=[],
    )

    # Retention: only a paused job has a deadline.
    in_pause = new_phase in ("Pausing", "Paused") or (new_phase == "Failed" and spec.paused)
    bound = ctx.retention if in_pause else None
    lost = bound is not None and bound.lost_at(ctx.now)
    # A loss stays reported until a new snapshot repairs it.
    exceeded = lost or (
        conditions.is_true(prev.conditions, conditions.RETENTION_EXCEEDED)
        and job_stage != "Snapshot"
    )
    report, deadline = status.with_retention(
        report, bound=bound, lost=lost, previous=prev, now=ctx.now
    )

    ready, reconciling, stalled = conditions.readiness(
        phase=new_phase,
        stage=job_stage,
        pending=draft.pending,
        blocking=blocking,
        transient=transient,
        auto_resumed=auto_resumed,
        exceeded=exceeded,
        loss=bound.message if bound and lost else None,
        stage_detail=reading.detail,
    )
    wanted = [
        ready,
        reconciling,
        stalled,
        conditions.paused(
            phase=new_phase,
            stage=job_stage,
            pending=draft.pending,
            auto_resumed=auto_resumed,
            paused_at=report.paused_at,
            ready_message=ready.message,
            stage_detail=reading.detail,
            stage_unknown=reading.unknown,
            stage_unread=reading.unread,
        ),
        conditions.retention_at_risk(
            in_pause=in_pause,
            now=ctx.now,
            warn_before=spec.retention_policy.warn_before,
            bound=bound,
            deadline=deadline,
            lost=lost,
            errors=ctx.retention_errors,
            shown=report.retention,
        ),
        conditions.retention_exceeded(exceeded=exceeded, message=ready.message),
    ]
    caught_up = catchup.caught_up(report.cdc, spec.catch_up)
    if caught_up is not None:
        wanted.append(caught_up)
    merged = conditions.merge(
        prev.conditions, wanted, now=units.rfc3339(ctx.now), generation=ctx.generation
    )
    report = report.model_copy(update={"conditions": merged})
    draft.events.extend(events.transitions(prev, report))
    draft.events.extend(catchup.events(prev.cdc, report.cdc, phase=new_phase))
    pace = phase.pace(new_phase, errors=bool(errors or draft.failures), stage_blocks=stage_blocks)
    if pace is Pace.STEADY and report.cdc is not None and report.cdc.catching_up_since:
        pace = Pace.WAITING  # look again soon: CaughtUp is waited for (resume --wait)
    return Plan(tuple(draft.actions), report, tuple(draft.events), pace)
