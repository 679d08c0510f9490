"""How a pass looks at Connect: its own connectors or the shared listing; when it reads offsets."""

from __future__ import annotations

import pytest

from syncjob_operator.controller.observe import (
    CROWD_FOR_LISTING,
    CROWD_LISTING_AGE,
    connect_view,
    crowd_poll,
    offsets_due,
)

INTERVAL = 150.0


@pytest.mark.parametrize(
    ("stage", "phase", "paused", "read_at", "since_paused", "now", "due"),
    [
        # Before CDC, every pass: the stage is read from them.
        (None, None, False, None, False, 0.0, True),
        ("Snapshot", "Running", False, 99.0, False, 100.0, True),
        ("Pending", "PausePending", True, 99.0, False, 100.0, True),
        # A pause is about to be decided: on fresh offsets.
        ("CDC", "Running", True, 99.0, False, 100.0, True),
        # Running in CDC: at most every offsets interval.
        ("CDC", "Running", False, None, False, 100.0, True),
        ("CDC", "Running", False, 0.0, False, 149.0, False),
        ("CDC", "Running", False, 0.0, False, 150.0, True),
        ("CDC", "Resuming", False, 0.0, False, 10.0, False),
        ("CDC", "Pausing", True, 0.0, False, 10.0, False),
        # Paused in CDC: once.
        ("CDC", "Paused", True, 0.0, False, 10.0, True),
        ("CDC", "Paused", True, 10.0, True, 5000.0, False),
        ("CDC", "Paused", False, 10.0, True, 5000.0, False),  # a resume needs none
        ("CDC", "Paused", False, 0.0, False, 10.0, False),  # even before the once
    ],
)
def test_offsets_due(
    stage: str | None,
    phase: str | None,
    paused: bool,
    read_at: float | None,
    since_paused: bool,
    now: float,
    due: bool,
) -> None:
    assert (
        offsets_due(
            stage=stage,
            phase=phase,
            paused=paused,
            read_at=read_at,
            read_since_paused=since_paused,
            now=now,
            interval=INTERVAL,
        )
        is due
    )


@pytest.mark.parametrize(
    ("transition", "acted_at", "crowd", "view"),
    [
        # Converged: the cluster's listing, however many jobs are about.
        (False, None, 0, "listing"),
        (False, 10.0, 0, "listing"),
        # One job in a pause or resume: its own GETs.
        (True, 10.0, 1, "own"),
        (True, 10.0, CROWD_FOR_LISTING - 1, "own"),
        # A storm: the shared listing, from after its requests.
        (True, 10.0, CROWD_FOR_LISTING, "crowd"),
        (True, 10.0, 200, "crowd"),
        # Restarted mid-transition, nothing asked yet by this process: its own.
        (True, None, 200, "own"),
    ],
)
def test_connect_view(transition: bool, acted_at: float | None, crowd: int, view: str) -> None:
    assert connect_view(transition=transition, acted_at=acted_at, crowd=crowd) == view


@pytest.mark.parametrize(
    ("delay", "crowded", "wait"),
    [
        (0.01, False, 0.01),  # alone: the single-job poll
        (0.01, True, CROWD_LISTING_AGE),  # in a crowd: no sooner than the next listing
        (0.5, True, 0.5),  # a longer wait stays as it is
    ],
)
def test_crowd_poll(delay: float, crowded: bool, wait: float) -> None:
    assert crowd_poll(delay, crowded=crowded) == wait
