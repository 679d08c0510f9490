"""Pacing: the wait after each pass, from the decision's pace and a clock the rows give."""

from __future__ import annotations

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
        # A transition polls at poll_min through the fast window...
        (
            [(Pace.TRANSITION, 0.0), (Pace.TRANSITION, 0.5), (Pace.TRANSITION, 1.0)],
            [0.025, 0.025, 0.025],
        ),
        # ...then grows by half each pass, up to poll_max.
        (
            [(Pace.TRANSITION, 0.0), (Pace.TRANSITION, 1.1), (Pace.TRANSITION, 1.2)],
            [0.025, 0.0375, 0.05625],
        ),
        (
            [(Pace.TRANSITION, 0.0)] + [(Pace.TRANSITION, 100.0)] * 12,
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
    pacer = pacing.Pacer(SETTINGS)
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
    assert pacing.Pacer(SETTINGS).after(Pace.STEADY, status, now=0.0) == delay


def test_a_failed_pass_backs_off_like_a_retry_and_keeps_the_transition() -> None:
    pacer = pacing.Pacer(SETTINGS)
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
