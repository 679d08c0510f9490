"""How a pass looks at Connect: its own connectors or the shared listing; when it reads offsets."""

from __future__ import annotations

import pytest

from syncjob_operator.controller.observe import (
    CROWD_FOR_LISTING,
    CROWD_LISTING_AGE,
    connect_view,
    crowd_poll,
    offsets_due,
    takes_own_look,
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


@pytest.mark.parametrize(
    ("resuming", "own_at", "listing_at", "now", "own"),
    [
        # A resume right after the pause: its own look, newer than any listing.
        (True, 100.0, 90.0, 101.0, True),
        (True, 100.0, None, 101.0, True),
        # A listing newer than its own look: the listing.
        (True, 100.0, 100.5, 101.0, False),
        (True, 100.0, 100.0, 101.0, False),
        # Its own look older than the resync interval (30 s): the listing, fetched if need be.
        (True, 100.0, None, 130.0, True),
        (True, 100.0, None, 130.1, False),
        # No look of its own yet (a restarted operator): the listing.
        (True, None, 90.0, 101.0, False),
        # Not a resume (a resync, a pause): the listing, so a change by hand is seen.
        (False, 100.0, 90.0, 101.0, False),
    ],
)
def test_takes_own_look(
    resuming: bool, own_at: float | None, listing_at: float | None, now: float, own: bool
) -> None:
    assert (
        takes_own_look(
            resuming=resuming, own_at=own_at, listing_at=listing_at, now=now, max_age=30.0
        )
        is own
    )
