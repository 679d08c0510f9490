"""How long a job's loop sleeps before its next pass, from the decision's pace.

The decision says what kind of wait it is (:class:`plan.Pace`); this
turns that into seconds, every wait bounded by the settings:

- a transition (a pause or resume on its way) polls fast for its first
  ``transition_fast_window`` seconds, because most land within it (Connect
  takes ~30-200 ms): every ``transition_poll_min`` (10 ms) for its first
  100 ms, so that a resume that lands in 30-50 ms is seen within 10 ms of
  it, then each wait 15 % longer than the last, so that a pause of 200 ms
  is seen within ~25 ms, for fewer polls than a fixed 25 ms (28 in the
  first second instead of 40); then it backs off
  by half each time up to
  ``transition_poll_max`` so that a slow one costs little; once it has lasted
  ``transition_slow_after`` it is one that cannot finish soon (Pods that
  cannot be scheduled, a worker gone), and the wait keeps growing up to
  ``transition_poll_slow_max``, never past the transition timeout.  A wake
  (the watched workload changed: :meth:`Pacer.woken`) makes it fast again, so
  Pods that become Ready are seen at once, not after a long sleep.  A
  transition that waits only on watched objects (scaled workloads,
  KafkaConnectors) is woken by each of their changes, so it does not poll
  fast at all: its wait is ``transition_poll_slow_max`` from the start
  (a storm of a thousand such jobs would otherwise cost 40 passes a second
  each for nothing);
- an error backs off from ``retry_min``, doubling up to ``retry_max``: one
  formula (:func:`backoff`) whether the decision asked for a retry or the pass
  itself failed;
- a converged job resyncs at ``resync_interval`` (at the retention interval
  while a paused job's retention deadline is watched; at
  ``watched_resync_interval`` when a watch wakes it on every change of what
  it reads and nothing else needs a look: the resync is then a safety net
  only), jittered: the first
  resync after start-up or after a transition at a random point in
  [0.5, 1.0] of the interval, then ±10 %, so that jobs started (or paused in
  a storm) together do not all resync together and the load of idle jobs is
  spread evenly over the interval.

The clock and the random draw are passed in, so every rule is a table row.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from syncjob_operator.api import jobstatus
from syncjob_operator.decide import plan
from syncjob_operator.settings import Settings

# Each transition poll waits this much longer than the last: in the fast
# window, and past it.
FAST_GROWTH = 1.15
# For its first this many seconds a transition polls at transition_poll_min,
# not growing yet: a resume lands in 30-50 ms, and waits growing from the
# first poll look at 10, 21.5, 34.7 and 49.9 ms, so one that lands at 36 ms
# is seen at 50.  At most ten polls more than growing from the start.
FLAT_WINDOW = 0.1
TRANSITION_GROWTH = 1.5
# The resync jitter, as factors of the interval: the first converged wait
# (spread a start-up's jobs over the whole second half of the interval), then
# every later one (keep them spread without drifting into step again).
FIRST_RESYNC = (0.5, 1.0)
LATER_RESYNC = (0.9, 1.1)


def backoff(streak: int, settings: Settings) -> float:
    """The wait after the ``streak``-th failure in a row (1, 2, ...): retry_min, doubling."""
    return float(min(settings.retry_max, settings.retry_min * 2.0 ** (max(streak, 1) - 1)))


@dataclass
class Pacer:
    """One job's pacing state: where a transition stands and how many failures in a row."""

    settings: Settings
    # A factor drawn uniformly from [low, high] (random.uniform; rows pass their own).
    draw: Callable[[float, float], float] = field(default=random.uniform)
    transition_started: float | None = None
    poll_delay: float = 0.0
    error_streak: int = 0
    # True once a converged wait was drawn since start-up or the last other pace.
    resyncing: bool = False

    def after(
        self,
        pace: plan.Pace,
        status: jobstatus.SyncJobStatus,
        *,
        now: float,
        watched: bool = False,
        probed: bool = False,
    ) -> float:
        """The wait after a pass whose decision said ``pace`` and wrote ``status``.

        ``watched``: everything the job waits on is followed by a watch that
        wakes it on every change (workloads and KafkaConnectors from an
        informer in sync, no Kafka Connect REST API to poll), so a
        transition's poll is only a safety net: it waits up to
        ``transition_poll_slow_max``, never past the timeout; converged, it
        resyncs at ``watched_resync_interval``, unless ``probed`` (the job
        probes a source or Kafka on its resyncs, which no watch replaces).
        """
        s = self.settings
        if pace is not plan.Pace.STEADY:
            self.resyncing = False
        if pace is plan.Pace.TRANSITION:
            delay = self._transition(now)
            if watched and self.transition_started is not None:
                left = s.transition_timeout - (now - self.transition_started)
                delay = max(delay, min(s.transition_poll_slow_max, left))
            return delay
        self.transition_started = None
        if pace is plan.Pace.RETRY:
            return self.failed()
        self.error_streak = 0
        if pace is plan.Pace.WAITING:
            return s.stage_poll_interval
        interval = s.resync_interval
        if status.phase in ("Paused", "Pausing") and status.retention is not None:
            interval = min(s.resync_interval, s.retention_interval)
        elif watched and not probed:
            interval = max(s.resync_interval, s.watched_resync_interval)
        low, high = LATER_RESYNC if self.resyncing else FIRST_RESYNC
        self.resyncing = True
        return interval * self.draw(low, high)

    def _transition(self, now: float) -> float:
        s = self.settings
        if self.transition_started is None:
            self.transition_started = now
            self.poll_delay = s.transition_poll_min
            return self.poll_delay
        elapsed = now - self.transition_started
        if elapsed > s.transition_fast_window:
            cap = s.transition_poll_max
            if elapsed > s.transition_slow_after:
                cap = max(cap, s.transition_poll_slow_max)
            self.poll_delay = min(cap, self.poll_delay * TRANSITION_GROWTH)
        elif elapsed >= FLAT_WINDOW:
            self.poll_delay = min(s.transition_poll_max, self.poll_delay * FAST_GROWTH)
        # Never sleep past the timeout: the pass at the timeout reports it.
        left = s.transition_timeout - elapsed
        return max(s.transition_poll_min, min(self.poll_delay, left))

    def woken(self) -> None:
        """Something this job waits on changed: poll fast again (its transition may land now)."""
        if self.transition_started is not None:
            self.poll_delay = self.settings.transition_poll_min

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
