"""How long a job's loop sleeps before its next pass, from the decision's pace.

The decision says what kind of wait it is (:class:`plan.Pace`); this
turns that into seconds, every wait bounded by the settings:

- a transition (a pause or resume on its way) polls fast for its first
  ``transition_fast_window`` seconds, because most land within it (Connect
  takes ~50-200 ms), then backs off by half each time up to
  ``transition_poll_max`` so that a slow one costs little;
- an error backs off from ``retry_min``, doubling up to ``retry_max``: one
  formula (:func:`backoff`) whether the decision asked for a retry or the pass
  itself failed;
- a converged job resyncs at ``resync_interval`` (at the retention interval
  while a paused job's retention deadline is watched).

The clock is passed in (monotonic seconds), so every rule is a table row.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncjob_operator.api import jobstatus
from syncjob_operator.decide import plan
from syncjob_operator.settings import Settings

# Each transition poll past the fast window waits this much longer than the last.
TRANSITION_GROWTH = 1.5


def backoff(streak: int, settings: Settings) -> float:
    """The wait after the ``streak``-th failure in a row (1, 2, ...): retry_min, doubling."""
    return float(min(settings.retry_max, settings.retry_min * 2.0 ** (max(streak, 1) - 1)))


@dataclass
class Pacer:
    """One job's pacing state: where a transition stands and how many failures in a row."""

    settings: Settings
    transition_started: float | None = None
    poll_delay: float = 0.0
    error_streak: int = 0

    def after(self, pace: plan.Pace, status: jobstatus.SyncJobStatus, *, now: float) -> float:
        """The wait after a pass whose decision said ``pace`` and wrote ``status``."""
        s = self.settings
        if pace is plan.Pace.TRANSITION:
            if self.transition_started is None:
                self.transition_started = now
                self.poll_delay = s.transition_poll_min
            elif now - self.transition_started > s.transition_fast_window:
                self.poll_delay = min(s.transition_poll_max, self.poll_delay * TRANSITION_GROWTH)
            return self.poll_delay
        self.transition_started = None
        if pace is plan.Pace.RETRY:
            return self.failed()
        self.error_streak = 0
        if pace is plan.Pace.WAITING:
            return s.stage_poll_interval
        if status.phase in ("Paused", "Pausing") and status.retention is not None:
            return min(s.resync_interval, s.retention_interval)
        return s.resync_interval

    def failed(self) -> float:
        """The wait after a pass that failed (or whose decision asked for a retry).

        A pass that raised leaves a transition's clock running: the transition
        itself is still on its way, and its timeout counts from its start.
        """
        self.error_streak += 1
        return backoff(self.error_streak, self.settings)

    def transition_elapsed(self, *, now: float) -> float:
        """Seconds since the current transition began; 0 when none is under way."""
        return now - self.transition_started if self.transition_started else 0.0


@dataclass
class StallClock:
    """Since when the backends have kept failing, without a pass free of errors between."""

    since: float | None = None

    def update(self, *, failing: bool, now: float) -> float:
        """Record this pass; the seconds the failures have lasted (0 when none)."""
        if not failing:
            self.since = None
        elif self.since is None:
            self.since = now
        return now - self.since if self.since is not None else 0.0


def release_delay(previous: float | None, settings: Settings) -> float:
    """The wait between two passes of onDelete: Resume: from the fast poll, growing by half.

    Deletion has its own bound (``delete_timeout``), so there is no fast
    window: the wait grows from the first pass, up to twice the transition poll.
    """
    if previous is None:
        return settings.transition_poll_min
    return min(settings.transition_poll_max * 2, previous * TRANSITION_GROWTH)
