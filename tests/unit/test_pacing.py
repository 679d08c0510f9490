"""Pacing: the wait after each pass, from the decision's pace and a clock the rows give."""

from __future__ import annotations

import random

import pytest

from syncjob_operator.api import jobstatus
from syncjob_operator.controller import pacing
from syncjob_operator.decide import plan
from syncjob_operator.settings import Settings

Pace = plan.Pace
SETTINGS = Settings(
    transition_poll_min=0.025,
    transition_fast_window=1.0,
    transition_poll_max=1.0,
    retry_min=1.0,
    retry_max=60.0,
    stage_poll_interval=5.0,
    resync_interval=30.0,
    retention_interval=20.0,
)
RUNNING = jobstatus.SyncJobStatus(phase="Running")


def no_jitter(low: float, high: float) -> float:
    """The draw that keeps the interval as it is (1.0 lies in both jitter ranges)."""
    return min(max(1.0, low), high)


WATCHED = jobstatus.RetentionStatus(basis="configured")


@pytest.mark.parametrize(
    ("streak", "delay"),
    [
        (1, 1.0),  # the first retry waits retry_min
        (2, 2.0),
        (3, 4.0),
        (6, 32.0),
        (7, 60.0),  # capped at retry_max
        (40, 60.0),
        (0, 1.0),  # no failure counted yet: never less than retry_min
    ],
)
def test_backoff(streak: int, delay: float) -> None:
    assert pacing.backoff(streak, SETTINGS) == delay


# Each row: the passes as (pace, now) and the waits they give.
@pytest.mark.parametrize(
    ("passes", "delays"),
    [
        # A transition polls at poll_min for its first 100 ms...
        (
            [(Pace.TRANSITION, t) for t in (0.0, 0.03, 0.06, 0.099, 0.1)],
            [0.025, 0.025, 0.025, 0.025, 0.025 * 1.15],
        ),
        # ...then through the fast window, each wait 15 % longer...
        (
            [(Pace.TRANSITION, 0.0), (Pace.TRANSITION, 0.5), (Pace.TRANSITION, 1.0)],
            [0.025, 0.025 * 1.15, 0.025 * 1.15**2],
        ),
        (
            [(Pace.TRANSITION, 0.0)] + [(Pace.TRANSITION, 0.9)] * 30,
            [min(1.0, 0.025 * 1.15**k) for k in range(31)],
        ),
        # ...then grows by half each pass, up to poll_max.
        (
            [(Pace.TRANSITION, 0.0), (Pace.TRANSITION, 1.1), (Pace.TRANSITION, 1.2)],
            [0.025, 0.0375, 0.05625],
        ),
        (
            [(Pace.TRANSITION, 0.0)] + [(Pace.TRANSITION, 5.0)] * 12,
            [min(1.0, 0.025 * 1.5**k) for k in range(13)],
        ),
        # A transition that ends and begins again starts from poll_min.
        (
            [
                (Pace.TRANSITION, 0.0),
                (Pace.TRANSITION, 5.0),
                (Pace.STEADY, 6.0),
                (Pace.TRANSITION, 7.0),
            ],
            [0.025, 0.0375, 30.0, 0.025],
        ),
        # Retries double; a converged pass resets the streak.
        (
            [
                (Pace.RETRY, 0.0),
                (Pace.RETRY, 1.0),
                (Pace.RETRY, 3.0),
                (Pace.STEADY, 7.0),
                (Pace.RETRY, 37.0),
            ],
            [1.0, 2.0, 4.0, 30.0, 1.0],
        ),
        # Waiting for the CDC stage: the stage poll interval, and the streak resets.
        ([(Pace.RETRY, 0.0), (Pace.WAITING, 1.0), (Pace.RETRY, 6.0)], [1.0, 5.0, 1.0]),
        # A retry during a transition ends it: the next transition starts over.
        (
            [
                (Pace.TRANSITION, 0.0),
                (Pace.TRANSITION, 2.0),
                (Pace.RETRY, 2.1),
                (Pace.TRANSITION, 3.0),
            ],
            [0.025, 0.0375, 1.0, 0.025],
        ),
        # A transition does not reset the error streak.
        ([(Pace.RETRY, 0.0), (Pace.TRANSITION, 1.0), (Pace.RETRY, 1.1)], [1.0, 0.025, 2.0]),
    ],
)
def test_pacer(passes: list[tuple[plan.Pace, float]], delays: list[float]) -> None:
    pacer = pacing.Pacer(SETTINGS, draw=no_jitter)
    assert [pacer.after(pace, RUNNING, now=now) for pace, now in passes] == pytest.approx(delays)


@pytest.mark.parametrize(
    ("status", "delay"),
    [
        (RUNNING, 30.0),
        (jobstatus.SyncJobStatus(phase="Paused"), 30.0),
        # A paused job whose retention is watched: at the retention interval if sooner.
        (jobstatus.SyncJobStatus(phase="Paused", retention=WATCHED), 20.0),
        (jobstatus.SyncJobStatus(phase="Pausing", retention=WATCHED), 20.0),
        (jobstatus.SyncJobStatus(phase="Running", retention=WATCHED), 30.0),
    ],
)
def test_steady_resync(status: jobstatus.SyncJobStatus, delay: float) -> None:
    assert pacing.Pacer(SETTINGS, draw=no_jitter).after(Pace.STEADY, status, now=0.0) == delay


def test_a_failed_pass_backs_off_like_a_retry_and_keeps_the_transition() -> None:
    pacer = pacing.Pacer(SETTINGS, draw=no_jitter)
    assert pacer.after(Pace.TRANSITION, RUNNING, now=10.0) == 0.025
    assert [pacer.failed(), pacer.failed(), pacer.failed()] == [1.0, 2.0, 4.0]
    # The transition's clock still counts from its start (its timeout bounds it).
    assert pacer.transition_elapsed(now=12.5) == 2.5
    assert pacer.after(Pace.TRANSITION, RUNNING, now=12.5) == pytest.approx(0.0375)
    assert pacer.after(Pace.STEADY, RUNNING, now=13.0) == 30.0
    assert pacer.transition_elapsed(now=14.0) == 0.0
    assert pacer.failed() == 1.0


@pytest.mark.parametrize(
    ("passes", "elapsed"),
    [
        ([(False, 0.0), (False, 5.0)], [0.0, 0.0]),
        ([(True, 10.0), (True, 15.0), (True, 40.0)], [0.0, 5.0, 30.0]),
        # One pass free of errors restarts the clock.
        ([(True, 10.0), (True, 15.0), (False, 16.0), (True, 20.0)], [0.0, 5.0, 0.0, 0.0]),
    ],
)
def test_stall_clock(passes: list[tuple[bool, float]], elapsed: list[float]) -> None:
    clock = pacing.StallClock()
    assert [clock.update(failing=f, now=now) for f, now in passes] == elapsed


def test_release_delays_grow_from_the_fast_poll_to_twice_the_transition_poll() -> None:
    delays: list[float] = []
    delay: float | None = None
    for _ in range(14):
        delay = pacing.release_delay(delay, SETTINGS)
        delays.append(delay)
    assert delays[:3] == pytest.approx([0.025, 0.0375, 0.05625])
    assert delays[-1] == 2.0 and max(delays) == 2.0


SLOW = SETTINGS.model_copy(
    update={
        "transition_slow_after": 10.0,
        "transition_poll_slow_max": 10.0,
        "transition_timeout": 60.0,
    }
)


@pytest.mark.parametrize(
    ("nows", "delays"),
    [
        # Within transition_slow_after the wait stops at transition_poll_max...
        ([0.0, *[5.0] * 12], [min(1.0, 0.025 * 1.5**k) for k in range(13)]),
        # ...past it, it keeps growing by half, up to transition_poll_slow_max.
        ([0.0, *[11.0] * 16], [min(10.0, 0.025 * 1.5**k) for k in range(17)]),
        # Never past the transition timeout (60 s): the pass at the timeout reports it.
        ([0.0, *[11.0] * 16, 55.0], [*(min(10.0, 0.025 * 1.5**k) for k in range(17)), 5.0]),
        ([0.0, *[11.0] * 16, 60.5], [*(min(10.0, 0.025 * 1.5**k) for k in range(17)), 0.025]),
    ],
)
def test_a_transition_that_cannot_finish_backs_off_past_a_second(
    nows: list[float], delays: list[float]
) -> None:
    pacer = pacing.Pacer(SLOW, draw=no_jitter)
    assert [pacer.after(Pace.TRANSITION, RUNNING, now=n) for n in nows] == pytest.approx(delays)


def test_a_wake_makes_a_slow_transition_fast_again() -> None:
    pacer = pacing.Pacer(SLOW, draw=no_jitter)
    for now in (0.0, *[11.0] * 16):
        pacer.after(Pace.TRANSITION, RUNNING, now=now)
    assert pacer.after(Pace.TRANSITION, RUNNING, now=30.0) == 10.0
    pacer.woken()  # the workload changed (its Pods became Ready)
    assert pacer.after(Pace.TRANSITION, RUNNING, now=30.1) == pytest.approx(0.0375)
    # A wake with no transition under way changes nothing.
    idle = pacing.Pacer(SLOW, draw=no_jitter)
    idle.woken()
    assert idle.after(Pace.STEADY, RUNNING, now=0.0) == 30.0


class LowEnd:
    """A draw at the low end of the range it is given, recording the ranges asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.asked.append((low, high))
        return low


@pytest.mark.parametrize(
    ("paces", "ranges"),
    [
        # Start-up: the first resync anywhere in the second half of the interval, then ±10 %.
        ([Pace.STEADY, Pace.STEADY, Pace.STEADY], [(0.5, 1.0), (0.9, 1.1), (0.9, 1.1)]),
        # After a transition (a storm converges all at once) the spread starts over.
        (
            [Pace.STEADY, Pace.STEADY, Pace.TRANSITION, Pace.STEADY, Pace.STEADY],
            [(0.5, 1.0), (0.9, 1.1), (0.5, 1.0), (0.9, 1.1)],
        ),
        ([Pace.STEADY, Pace.RETRY, Pace.STEADY], [(0.5, 1.0), (0.5, 1.0)]),
        ([Pace.WAITING, Pace.STEADY], [(0.5, 1.0)]),
    ],
)
def test_converged_resyncs_are_jittered(
    paces: list[plan.Pace], ranges: list[tuple[float, float]]
) -> None:
    draw = LowEnd()
    pacer = pacing.Pacer(SETTINGS, draw=draw)
    waits = [pacer.after(p, RUNNING, now=float(i)) for i, p in enumerate(paces)]
    assert draw.asked == ranges
    steady = [w for w, p in zip(waits, paces, strict=True) if p is Pace.STEADY]
    assert steady == pytest.approx([30.0 * low for low, _ in ranges])


def test_jittered_resyncs_spread_a_start_up_over_the_interval() -> None:
    """1,000 jobs started together: their first resyncs fill [15 s, 30 s], none bunched."""
    rng = random.Random(13)
    firsts = [
        pacing.Pacer(SETTINGS, draw=rng.uniform).after(Pace.STEADY, RUNNING, now=0.0)
        for _ in range(1000)
    ]
    assert min(firsts) >= 15.0 and max(firsts) <= 30.0
    per_second = [sum(1 for f in firsts if s <= f < s + 1) for s in range(15, 30)]
    assert max(per_second) < 2 * 1000 / 15, per_second


@pytest.mark.parametrize(
    ("nows", "delays"),
    [
        # Woken by every change of what it waits on: no fast polls, a safety net of 10 s...
        ([0.0, 0.1, 0.5, 20.0], [10.0, 10.0, 10.0, 10.0]),
        # ...never past the transition timeout (60 s), never under the fast poll.
        ([0.0, 55.0, 59.99, 60.5], [10.0, 5.0, 0.025, 0.025]),
    ],
)
def test_a_watched_transition_waits_for_its_wake_not_a_fast_poll(
    nows: list[float], delays: list[float]
) -> None:
    pacer = pacing.Pacer(SLOW, draw=no_jitter)
    got = [pacer.after(Pace.TRANSITION, RUNNING, now=n, watched=True) for n in nows]
    assert got == pytest.approx(delays, abs=1e-9)
    # Not watched (Kafka Connect to poll): the fast poll, as before.
    assert pacing.Pacer(SLOW).after(Pace.TRANSITION, RUNNING, now=0.0) == 0.025


@pytest.mark.parametrize(
    ("watched", "probed", "status", "wait"),
    [
        # A watch wakes it on every change of what it reads: the resync is a safety net.
        (True, False, "running", 300.0),
        (True, False, "paused", 300.0),
        # A source or Kafka to probe: no watch says when their figures move.
        (True, True, "running", 30.0),
        # Connect to read (not watched): the resync interval.
        (False, False, "running", 30.0),
        # A paused job's retention deadline is re-probed at the retention interval.
        (True, False, "paused-retention", 20.0),
    ],
)
def test_a_watched_converged_job_resyncs_rarely(
    watched: bool, probed: bool, status: str, wait: float
) -> None:
    statuses = {
        "running": RUNNING,
        "paused": jobstatus.SyncJobStatus(phase="Paused"),
        "paused-retention": jobstatus.SyncJobStatus(phase="Paused", retention=WATCHED),
    }
    pacer = pacing.Pacer(SETTINGS, draw=no_jitter)
    got = pacer.after(Pace.STEADY, statuses[status], now=0.0, watched=watched, probed=probed)
    assert got == pytest.approx(wait)
