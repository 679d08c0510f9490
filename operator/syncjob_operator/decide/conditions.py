"""Conditions as the Kubernetes API conventions and kstatus read them.

``lastTransitionTime`` changes only when a condition's status flips, so a
status rewritten with the same meaning compares equal and is not written
again.  ``Reconciling`` and ``Stalled`` are "abnormal-true" (kstatus); ``Ready``
is what GitOps tools read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.api.jobstatus import (
    AutoResumeStatus,
    Condition,
    ConditionStatus,
    Phase,
    RetentionStatus,
    Stage,
)
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.decide.retention import RetentionBound

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
PAUSED = "Paused"
RETENTION_AT_RISK = "RetentionAtRisk"
RETENTION_EXCEEDED = "RetentionExceeded"
# The reason of a Paused condition whose job's stage nothing can read.
STAGE_UNKNOWN = "StageUnknown"
# Information after a resume (decide.catchup): never read by Ready, Reconciling or Stalled.
CAUGHT_UP = "CaughtUp"

ORDER = (READY, RECONCILING, STALLED, PAUSED, RETENTION_AT_RISK, RETENTION_EXCEEDED, CAUGHT_UP)


@dataclass(frozen=True)
class Wanted:
    """A condition as a decision wants it, before transition times are kept."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def merge(
    previous: Iterable[Condition], wanted: Iterable[Wanted], *, now: str, generation: int | None
) -> list[Condition]:
    """The new conditions list: wanted ones, keeping transition times that did not flip.

    Conditions not in ``wanted`` are dropped, except those whose types this
    operator does not own (kept as they are).
    """
    before = {c.type: c for c in previous}
    out: dict[str, Condition] = {}
    for w in wanted:
        old = before.get(w.type)
        since = old.last_transition_time if old is not None and old.status == w.status else now
        out[w.type] = Condition(
            type=w.type,
            status=w.status,
            reason=w.reason,
            message=w.message,
            last_transition_time=since,
            observed_generation=generation,
        )
    for c in previous:
        if c.type not in out and c.type not in ORDER:
            out[c.type] = c
    rank = {t: i for i, t in enumerate(ORDER)}
    return sorted(out.values(), key=lambda c: (rank.get(c.type, len(ORDER)), c.type))


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    c = find(conditions, type_)
    return c is not None and c.status == "True"


# --- one function per condition family ----------------------------------------


def readiness(
    *,
    phase: Phase | None,
    stage: Stage | None,
    pending: Sequence[str] = (),
    blocking: Sequence[BackendError] = (),
    transient: Sequence[BackendError] = (),
    auto_resumed: AutoResumeStatus | None = None,
    exceeded: bool = False,
    loss: str | None = None,
    stage_detail: str = "",
) -> tuple[Wanted, Wanted, Wanted]:
    """Ready, Reconciling and Stalled, as kstatus and GitOps tools read them.

    ``blocking`` errors need someone to act (Stalled); ``transient`` ones are
    retried (Reconciling).  ``exceeded``: change log was lost and no new
    snapshot has repaired it (``loss`` is the source's word on it, when it
    says so now).  ``stage_detail``: what holds a waiting pause back.
    Reconciling and Stalled are never both True; Ready=True means neither is.
    """
    auto_resumed_running = auto_resumed is not None and phase == "Running"
    if exceeded:
        msg = loss if loss is not None else _PURGED
        ready = Wanted(
            READY,
            "False",
            "RetentionExceeded",
            f"Events were lost: {msg}. A new snapshot is needed to repair the target.",
        )
    elif blocking:
        ready = Wanted(READY, "False", blocking[0].reason, _messages(blocking))
    elif transient:
        ready = Wanted(READY, "False", transient[0].reason, _messages(transient))
    elif auto_resumed is not None and auto_resumed_running:
        ready = Wanted(
            READY,
            "False",
            "AutoResumed",
            f"{auto_resumed.reason}; spec.paused is still true: set it to false to "
            "acknowledge, or change the spec to pause again",
        )
    elif phase == "Paused":
        ready = Wanted(READY, "True", "Paused", "the job is paused as spec.paused asks")
    elif phase == "Running" and not pending:
        ready = Wanted(READY, "True", "Running", "the job is running")
    elif phase == "PausePending":
        ready = Wanted(READY, "False", "WaitingForCDCStage", _waiting(stage, stage_detail))
    else:
        ready = Wanted(READY, "False", phase or "Reconciling", "; ".join(pending[:5]))

    # Lost change log is not repaired by waiting: kstatus should read Stalled.
    stalled = bool(blocking) or exceeded
    converging = not stalled and ready.status != "True" and not auto_resumed_running
    reconciling = Wanted(
        RECONCILING,
        "True" if converging else "False",
        ready.reason if converging else "Converged" if not stalled else "Stalled",
        ready.message if converging else "",
    )
    if not stalled:
        return ready, reconciling, Wanted(STALLED, "False", "NotStalled", "")
    if blocking:
        return ready, reconciling, Wanted(STALLED, "True", blocking[0].reason, _messages(blocking))
    return ready, reconciling, Wanted(STALLED, "True", "RetentionExceeded", ready.message)


def paused(
    *,
    phase: Phase | None,
    stage: Stage | None,
    pending: Sequence[str] = (),
    auto_resumed: AutoResumeStatus | None = None,
    paused_at: str | None = None,
    ready_message: str = "",
    stage_detail: str = "",
    stage_unknown: str | None = None,
    stage_unread: tuple[str, str] | None = None,
) -> Wanted:
    """Paused: True once the pause is carried out; why not, otherwise.

    Unknown before anything was observed (``ready_message`` says why).
    ``stage_unknown`` says why no stage can be read at all: a pause then does
    not wait for the CDC stage, and reason StageUnknown says so, before the
    pause (not paused) and after it (paused).  ``stage_unread`` is the reason
    and message of a stage read that failed, shown while the job runs (a
    pause would wait until it reads).
    """
    if phase == "Paused":
        since = f" since {paused_at}" if paused_at else ""
        if stage_unknown is not None:
            return Wanted(
                PAUSED, "True", STAGE_UNKNOWN, f"the job is paused{since}; {stage_unknown}"
            )
        return Wanted(PAUSED, "True", "Paused", f"the job is paused{since}")
    if phase == "PausePending":
        return Wanted(PAUSED, "False", "WaitingForCDCStage", _waiting(stage, stage_detail))
    if auto_resumed is not None:
        return Wanted(PAUSED, "False", "AutoResumed", auto_resumed.reason)
    if phase in ("Pausing", "Resuming"):
        return Wanted(PAUSED, "False", phase, "; ".join(pending[:5]))
    if phase is None:
        return Wanted(
            PAUSED,
            "Unknown",
            "NotObserved",
            "the job's state has not been observed yet: " + ready_message,
        )
    if stage_unknown is not None:
        return Wanted(PAUSED, "False", STAGE_UNKNOWN, stage_unknown)
    if stage_unread is not None:
        return Wanted(PAUSED, "False", *stage_unread)
    return Wanted(PAUSED, "False", "NotPaused", "")


def retention_at_risk(
    *,
    in_pause: bool,
    now: datetime,
    warn_before: timedelta,
    bound: RetentionBound | None = None,
    deadline: datetime | None = None,
    lost: bool = False,
    errors: Sequence[BackendError] = (),
    shown: RetentionStatus | None = None,
) -> Wanted:
    """RetentionAtRisk: True within ``warn_before`` of a paused job's deadline.

    ``deadline`` is the one status shows, ``shown`` the retention figures it
    shows; ``errors`` are failed retention probes (Unknown, unless the
    deadline is near anyway).
    """
    at_risk = in_pause and deadline is not None and not lost and now >= deadline - warn_before
    if in_pause and errors and not at_risk and not lost:
        # A probe failed: say which and why; a configured retention may stand in.
        message = _messages(errors)
        if bound is not None and deadline is not None:
            message += f"; falling back to {bound.basis}: deadline {units.rfc3339(deadline)}"
        return Wanted(RETENTION_AT_RISK, "Unknown", errors[0].reason, message)
    if at_risk and deadline is not None and bound is not None and bound.checked and now >= deadline:
        # Past the predicted deadline, and the source says the change log is
        # still there (a checked bound): not lost yet, but it may go any moment.
        return Wanted(
            RETENTION_AT_RISK,
            "True",
            bound.reason,
            f"resume now: {bound.message}",
        )
    if at_risk and deadline is not None:
        figures = f"{shown.basis}: {shown.message}" if shown is not None else ""
        return Wanted(
            RETENTION_AT_RISK,
            "True",
            "DeadlineNear",
            f"resume before {units.rfc3339(deadline)} or events are lost ({figures})",
        )
    if in_pause and bound is not None and deadline is None:
        return Wanted(RETENTION_AT_RISK, "False", bound.reason or "NoDeadline", bound.message)
    if in_pause and bound is not None and not lost:
        kept = f"the change log is kept until {units.rfc3339(deadline)}" if deadline else ""
        return Wanted(RETENTION_AT_RISK, "False", "DeadlineFar", kept)
    if not in_pause:
        return Wanted(RETENTION_AT_RISK, "False", "NotPaused", "")
    if lost:
        return Wanted(RETENTION_AT_RISK, "False", "RetentionExceeded", "")
    return Wanted(
        RETENTION_AT_RISK,
        "Unknown",
        "NoRetentionSource",
        "no deadline is known: set spec.source (and spec.kafka) so the operator can read "
        "the retention, or spec.source.retention",
    )


def retention_exceeded(*, exceeded: bool, message: str = "") -> Wanted:
    """RetentionExceeded: True from the loss of change log until a new snapshot repairs it."""
    if exceeded:
        return Wanted(RETENTION_EXCEEDED, "True", "ChangeLogPurged", message)
    return Wanted(RETENTION_EXCEEDED, "False", "WithinRetention", "")


_PURGED = "the source purged change log this job needed while it was paused"


def _messages(errors: Iterable[BackendError]) -> str:
    return "; ".join(dict.fromkeys(e.message for e in errors))


def _waiting(stage: Stage | None, detail: str = "") -> str:
    held = f": {detail}" if detail else ""
    return (
        f"the pause waits for the CDC stage (the job is in the {stage} stage{held}); "
        "it is carried out as soon as the initial snapshot completes"
    )
