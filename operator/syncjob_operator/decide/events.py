"""The Events a transition deserves: a new stage, a new phase, a problem that just began.

Why this exists: Events are what ``kubectl describe`` and alerting read, so
each one is posted once, when something changes, never again on a pass that
only repeats what the last one said.  Events about what a backend was found
doing (a connector resumed by hand, say) are made where that is seen.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncjob_operator.api import jobstatus
from syncjob_operator.api.jobstatus import Phase
from syncjob_operator.decide import conditions
from syncjob_operator.decide.plan import Event, EventType, PhaseChange

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
        ready = conditions.find(new.conditions, conditions.READY)
        detail = ready.message if ready is not None and ready.message else ""
        events.append(phase_event(PhaseChange(prev.phase, new.phase, detail)))
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


def phase_event(change: PhaseChange) -> Event:
    """The Event of one phase change."""
    kind, reason = _PHASE_EVENTS[change.after]
    message = f"Phase {change.before or 'none'} -> {change.after}. {change.detail}"
    return Event(kind, reason, message, phase_change=change)


def coalesce(held: Sequence[Event], new: Sequence[Event]) -> list[Event]:
    """The Events to post when a held status is written at last, with ``new``'s.

    A status held back (a transition that landed within the hold window is
    reported once, at its end) had Events of its own: they are posted now,
    in order, except that its phase changes and the new ones become a single
    change from the first phase to the last (none when the job ended where it
    began: a pause undone before it was reported).
    """
    changes = [e.phase_change for e in (*held, *new) if e.phase_change is not None]
    merged: list[Event] = []
    if changes and changes[0].before != changes[-1].after:
        last = changes[-1]
        merged.append(phase_event(PhaseChange(changes[0].before, last.after, last.detail)))
    placed = False
    out: list[Event] = []
    for event in (*held, *new):
        if event.phase_change is None:
            out.append(event)
        elif not placed:
            # The merged change goes where the first phase change was.
            out.extend(merged)
            placed = True
    return out
