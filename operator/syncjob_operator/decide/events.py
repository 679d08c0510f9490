"""The Events a transition deserves: a new stage, a new phase, a problem that just began.

Why this exists: Events are what ``kubectl describe`` and alerting read, so
each one is posted once, when something changes, never again on a pass that
only repeats what the last one said.  Events about what a backend was found
doing (a connector resumed by hand, say) are made where that is seen.
"""

from __future__ import annotations

from syncjob_operator.api import jobstatus
from syncjob_operator.api.jobstatus import Phase
from syncjob_operator.decide import conditions
from syncjob_operator.decide.plan import Event, EventType

_PHASE_EVENTS: dict[Phase, tuple[EventType, str]] = {
    "PausePending": ("Normal", "PauseDeferred"),
    "Pausing": ("Normal", "Pausing"),
    "Paused": ("Normal", "Paused"),
    "Resuming": ("Normal", "Resuming"),
    "Running": ("Normal", "Running"),
    "Failed": ("Warning", "Failed"),
}

# Conditions whose turning True is worth a Warning of its own.
_ALARMS = (conditions.STALLED, conditions.RETENTION_AT_RISK, conditions.RETENTION_EXCEEDED)


def transitions(prev: jobstatus.SyncJobStatus, new: jobstatus.SyncJobStatus) -> list[Event]:
    """The Events for what changed from ``prev`` to ``new``, in that order: stage, phase, alarms."""
    events: list[Event] = []
    if new.stage != prev.stage and prev.stage is not None and new.stage not in (None, "Unknown"):
        events.append(Event("Normal", f"Stage{new.stage}", f"The job is in the {new.stage} stage"))
    if new.phase != prev.phase and new.phase is not None:
        kind, reason = _PHASE_EVENTS[new.phase]
        ready = conditions.find(new.conditions, conditions.READY)
        detail = ready.message if ready is not None and ready.message else ""
        events.append(Event(kind, reason, f"Phase {prev.phase or 'none'} -> {new.phase}. {detail}"))
    for type_ in _ALARMS:
        before = conditions.find(prev.conditions, type_)
        after = conditions.find(new.conditions, type_)
        if (
            after is not None
            and after.status == "True"
            and (before is None or before.status != "True")
            # A loss is announced once, by RetentionExceeded, not again by Stalled.
            and not (type_ == conditions.STALLED and after.reason == "RetentionExceeded")
        ):
            events.append(Event("Warning", after.reason, after.message))
    return events
