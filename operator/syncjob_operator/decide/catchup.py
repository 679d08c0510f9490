"""How far behind a running job is, and whether it has caught up after a resume.

Why this exists: a resumed job is Running at once, but its sink still has
hours of change log to read.  What is behind (the source's unread change log,
the sink's unread records), the source time of the last committed change and
an estimate of the time left are probed by the controller
(:mod:`syncjob_operator.controller.catchup`) and turned here into
``status.cdc``, the ``CaughtUp`` condition and the Event that says how long
the catch-up took.  The figures move on every probe; status is rewritten only
when they move meaningfully (:func:`moved`), so a catch-up costs a bounded
number of writes per minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Phase
from syncjob_operator.decide.backlog import Measure, Sample
from syncjob_operator.decide.conditions import CAUGHT_UP, Wanted
from syncjob_operator.decide.plan import Event

# Status figures are not rewritten more often than this (a flip of the
# catch-up state is written at once) ...
MIN_REWRITE = timedelta(seconds=15)
# ... and then only when a figure moved by more than this fraction ...
RELATIVE_MOVE = 0.2
# ... or the last event time by more than this; or, anything at all, this long after.
EVENT_TIME_MOVE = timedelta(seconds=60)
REFRESH = timedelta(minutes=5)
# An estimate that moves by less than this many seconds is noise.
ESTIMATE_MOVE = 10

# Phases in which the change log piles up: a resume from one of these starts a catch-up.
_PAUSE_PHASES: tuple[Phase, ...] = ("Pausing", "Paused", "Resuming")


def behind(
    backlog_bytes: int | None, sink_lag: int | None, threshold: jobspec.CatchUpSpec
) -> bool | None:
    """Whether any measure is above its threshold; None when nothing was measured."""
    if backlog_bytes is None and sink_lag is None:
        return None
    return (backlog_bytes is not None and backlog_bytes > threshold.threshold_bytes) or (
        sink_lag is not None and sink_lag > threshold.threshold_records
    )


def estimate(measure: Measure, threshold: jobspec.CatchUpSpec) -> int | None:
    """Seconds until every measure is under its threshold at the measured rates.

    0 when none is above; None when one that is above does not drain.
    """
    s = measure.sample
    parts = (
        (s.backlog_bytes, threshold.threshold_bytes, measure.bytes_per_second),
        (s.sink_lag, threshold.threshold_records, measure.records_per_second),
    )
    seconds = 0.0
    for value, limit, rate in parts:
        if value is None or value <= limit:
            continue
        if rate is None or rate <= 0:
            return None
        seconds = max(seconds, value / rate)
    return round(seconds)


def cdc_status(
    *,
    previous: jobstatus.CdcStatus | None,
    measure: Measure | None,
    threshold: jobspec.CatchUpSpec,
    prev_phase: Phase | None,
    phase: Phase | None,
    now: datetime,
) -> jobstatus.CdcStatus | None:
    """``status.cdc`` for this pass: the previous one unless it moved meaningfully.

    A catch-up begins when a paused (or resuming) job is found Running, and
    ends when every measure is under its threshold; a new pause ends it too.
    """
    since = previous.catching_up_since if previous is not None else None
    if phase in ("PausePending", "Pausing", "Paused"):
        since = None
    elif phase == "Running" and prev_phase in _PAUSE_PHASES and since is None:
        since = units.rfc3339(now)
    if measure is None and previous is None:
        return None  # a job whose backlog is not probed has no status.cdc
    if measure is None or not measure.sample.measured:
        base = previous or jobstatus.CdcStatus()
        if base.catching_up_since == since:
            return base
        return base.model_copy(update={"catching_up_since": since})
    s = measure.sample
    if since is not None and _ends(previous, s, since, threshold):
        since = None
    # An estimate from a probe made before the resume would be about the pause.
    began = units.parse_time(since)
    fresh = began is not None and s.at >= began + timedelta(seconds=1)
    new = jobstatus.CdcStatus(
        last_event_time=units.rfc3339(s.last_event_time) if s.last_event_time else None,
        backlog_bytes=s.backlog_bytes,
        sink_lag=s.sink_lag,
        estimated_catch_up_seconds=estimate(measure, threshold) if fresh else None,
        catching_up_since=since,
        measured_at=units.rfc3339(s.at),
    )
    if previous is not None and not moved(previous, new, threshold, now=now):
        return previous
    return new


def _ends(
    previous: jobstatus.CdcStatus | None,
    sample: Sample,
    since: str,
    threshold: jobspec.CatchUpSpec,
) -> bool:
    """Whether ``sample`` ends the catch-up that began at ``since``.

    Only a sample probed after the catch-up began can end it (one from before
    the resume says nothing about what the pause left behind), and only one
    that has every figure the written status has (a sink lag that failed to
    be read is not a sink lag of zero).
    """
    began = units.parse_time(since)
    if began is None or sample.at < began + timedelta(seconds=1):
        return False
    if previous is not None and (
        (previous.backlog_bytes is not None and sample.backlog_bytes is None)
        or (previous.sink_lag is not None and sample.sink_lag is None)
    ):
        return False
    return behind(sample.backlog_bytes, sample.sink_lag, threshold) is False


def moved(
    old: jobstatus.CdcStatus,
    new: jobstatus.CdcStatus,
    threshold: jobspec.CatchUpSpec,
    *,
    now: datetime,
) -> bool:
    """Whether ``new`` differs from the written ``old`` enough to be written."""
    if old.catching_up_since != new.catching_up_since:
        return True
    if behind(old.backlog_bytes, old.sink_lag, threshold) != behind(
        new.backlog_bytes, new.sink_lag, threshold
    ):
        return True
    written = units.parse_time(old.measured_at)
    if written is None:
        return True
    if now - written < MIN_REWRITE:
        return False
    if _figure_moved(old.backlog_bytes, new.backlog_bytes) or _figure_moved(
        old.sink_lag, new.sink_lag
    ):
        return True
    a, b = old.estimated_catch_up_seconds, new.estimated_catch_up_seconds
    if (a is None) != (b is None) or (
        a is not None and b is not None and abs(a - b) > max(ESTIMATE_MOVE, RELATIVE_MOVE * a)
    ):
        return True
    t_old, t_new = units.parse_time(old.last_event_time), units.parse_time(new.last_event_time)
    if (t_old is None) != (t_new is None) or (
        t_old is not None and t_new is not None and abs(t_new - t_old) > EVENT_TIME_MOVE
    ):
        return True
    return now - written >= REFRESH and old.model_copy(update={"measured_at": None}) != (
        new.model_copy(update={"measured_at": None})
    )


def _figure_moved(a: int | None, b: int | None) -> bool:
    if (a is None) != (b is None):
        return True
    if a is None or b is None:
        return False
    return abs(a - b) > RELATIVE_MOVE * max(a, b)


def describe(cdc: jobstatus.CdcStatus) -> str:
    """The figures, for a condition message and the CLI."""
    parts = []
    if cdc.backlog_bytes is not None:
        parts.append(f"source backlog {units.format_bytes(cdc.backlog_bytes)}")
    if cdc.sink_lag is not None:
        parts.append(f"sink lag {cdc.sink_lag} records")
    text = ", ".join(parts) or "nothing measured yet"
    if cdc.estimated_catch_up_seconds is not None:
        left = units.format_duration(timedelta(seconds=cdc.estimated_catch_up_seconds))
        text += f"; about {left} left at the measured rate"
    elif cdc.catching_up_since is not None and parts:
        text += "; no estimate yet (the backlog is not falling)"
    return text


def caught_up(cdc: jobstatus.CdcStatus | None, threshold: jobspec.CatchUpSpec) -> Wanted | None:
    """The CaughtUp condition; None (no condition) for a job whose backlog is never probed.

    Information only: Ready, Reconciling and Stalled do not read it (a job
    that catches up is doing what its spec asks).
    """
    if cdc is None:
        return None
    figures = describe(cdc)
    if cdc.catching_up_since is not None:
        return Wanted(CAUGHT_UP, "False", "CatchingUp", f"catching up since the resume: {figures}")
    state = behind(cdc.backlog_bytes, cdc.sink_lag, threshold)
    if state is None:
        return Wanted(CAUGHT_UP, "Unknown", "NotMeasured", "the backlog could not be measured yet")
    if state:
        return Wanted(CAUGHT_UP, "False", "Behind", figures)
    return Wanted(CAUGHT_UP, "True", "CaughtUp", figures)


def events(
    previous: jobstatus.CdcStatus | None, new: jobstatus.CdcStatus | None, *, phase: Phase | None
) -> list[Event]:
    """A Normal Event when a catch-up ends because the job caught up (not because it paused)."""
    began = units.parse_time(previous.catching_up_since if previous else None)
    if began is None or new is None or new.catching_up_since is not None or phase != "Running":
        return []
    done = units.parse_time(new.measured_at)
    if done is None:
        return []
    took = units.format_duration(max(done - began, timedelta(0)))
    return [Event("Normal", "CaughtUp", f"The job caught up {took} after the resume")]
