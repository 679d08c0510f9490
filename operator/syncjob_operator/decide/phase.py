"""Where the job stands in its lifecycle: its phase, when its pause began, auto-resume, pace.

Why this exists: the phase is what users and GitOps tools see first, and
``pausedAt`` is what every retention deadline counts from, so both follow a
few exact rules that deserve one place: a phase is never one nobody observed,
a pause that starts from anything but a pause is a new one, and a job whose
change log is about to be purged may resume by itself
(``retentionPolicy.autoResumeBefore``).
"""

from __future__ import annotations

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Phase
from syncjob_operator.decide import retention, targets
from syncjob_operator.decide.observed import Observed
from syncjob_operator.decide.plan import Context, Event, Pace


def auto_resume(
    spec: jobspec.SyncJobSpec, ctx: Context
) -> tuple[jobstatus.AutoResumeStatus | None, Event | None]:
    """The auto-resume in force for this generation, and the Event when it begins now.

    One that began earlier holds while the spec that asked for the pause is
    unchanged (a new generation is a new request).  A new one begins within
    ``autoResumeBefore`` of a deadline not yet lost, while paused or pausing:
    resuming by itself beats losing events.
    """
    prev = ctx.previous
    earlier = prev.auto_resumed
    if spec.paused and earlier is not None and earlier.generation == ctx.generation:
        return earlier, None
    bound = ctx.retention
    before = spec.retention_policy.auto_resume_before
    if (
        not spec.paused
        or before is None
        or bound is None
        or bound.lost
        or prev.phase not in ("Pausing", "Paused")
        or not retention.auto_resume_due(bound, now=ctx.now, auto_resume_before=before)
    ):
        return None, None
    resumed = jobstatus.AutoResumeStatus(
        at=units.rfc3339(ctx.now),
        deadline=units.rfc3339(bound.deadline) if bound.deadline else None,
        generation=ctx.generation,
        reason=(
            f"resumed {units.format_go_duration(before)} before the retention "
            f"deadline ({bound.basis}) so that no events are lost"
        ),
    )
    event = Event(
        "Warning",
        "AutoResumed",
        f"Resuming the job by itself: {resumed.reason}. spec.paused is still true; "
        "set it to false to acknowledge, or change the spec to pause again.",
    )
    return resumed, event


def current(
    *,
    want_paused: bool,
    converged: bool,
    stage_blocks: bool,
    failures: bool,
    prev: jobstatus.SyncJobStatus,
    observed: Observed,
    errors: bool,
) -> Phase | None:
    """The phase this pass reports.

    Failed is what Connect reported (a FAILED connector or task).  An error
    that hid the backends keeps the last phase seen, or none on a first pass:
    never a state nobody observed (the conditions say why).
    """
    if failures:
        return "Failed"
    if converged:
        return "Paused" if want_paused else "Running"
    if errors:
        return prev.phase
    if want_paused:
        return "PausePending" if stage_blocks else "Pausing"
    anything_paused = any(
        targets.paused_family(c.state) for c in (*observed.connectors, *observed.kafka_connectors)
    ) or any(w.saved_replicas is not None for w in observed.workloads)
    if anything_paused or prev.phase in ("Paused", "Pausing", "Resuming"):
        return "Resuming"
    return "Running"


def paused_at(
    prev: jobstatus.SyncJobStatus, *, want_paused: bool, phase: Phase | None, ctx: Context
) -> str | None:
    """When the current pause began: retention deadlines count from it.

    A pause that starts from anything but a pause (Running, Resuming,
    PausePending, a failed resume) is a new one, whatever an older status
    says.  Cleared once the job runs again, also after an auto-resume
    (``status.autoResumed`` says when).
    """
    since = prev.paused_at
    pause_began = prev.phase in ("Pausing", "Paused", "Failed")
    if want_paused and phase in ("Pausing", "Paused") and not (since and pause_began):
        return units.rfc3339(ctx.now)
    if not want_paused and phase in ("Running", "Resuming", "Failed"):
        return None
    return since


def pace(phase: Phase | None, *, errors: bool, stage_blocks: bool) -> Pace:
    """How soon to look again.

    A timed-out transition is still under way (and still polled): only what
    was observed to fail backs off.  RETRY would also end the transition,
    restart its clock and make Stalled flap.  A FAILED connector is looked
    at again with backoff: someone may restart it.
    """
    if errors:
        return Pace.RETRY
    if stage_blocks:
        return Pace.WAITING
    if phase in ("Pausing", "Resuming"):
        return Pace.TRANSITION
    return Pace.STEADY
